package update

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Command installs with an executable: `Path install FILE` installs the package file,
// `Path version` prints the installed version. It is how partyline, which runs as an
// unprivileged user, hands an install to a helper that may install (and how tests stand
// in for dpkg).
type Command struct {
	Path string
}

// Install implements Installer.
func (c Command) Install(ctx context.Context, deb string) error {
	out, err := exec.CommandContext(ctx, c.Path, "install", deb).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s install %s: %w: %s", c.Path, deb, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Version implements Installer.
func (c Command) Version(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, c.Path, "version").Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", c.Path, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Guard watches a pending update from outside partyline (the installing helper, after
// it installed the package): a new version that exits at start, or hangs, before it
// settles its marker itself is rolled back here. It returns when the marker goes (the
// new version confirmed the update or rolled it back itself: the outcome is read from
// the record) or, once grace has passed after the marker's deadline with the marker
// still there, after installing the previous package again and calling restart.
func (s Settler) Guard(ctx context.Context, grace time.Duration, restart func(context.Context) error) (Outcome, error) {
	poll := s.Poll
	if poll == 0 {
		poll = time.Second
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		p, ok, err := readPending(s.Marker)
		if err != nil {
			return Outcome{}, err
		}
		if !ok {
			o, rolled, err := LastRollback(s.Record)
			if err != nil || rolled {
				return o, err
			}
			return Outcome{Result: Confirmed}, nil
		}
		if time.Now().After(p.Deadline.Add(grace)) {
			out, err := s.rollback(ctx, p, fmt.Sprintf("version %s never settled the update: it exits at start or hangs (started %d times)", p.Version, p.Starts))
			if err != nil {
				return out, err
			}
			if out.Result == RolledBack {
				err = restart(ctx)
			}
			return out, err
		}
		select {
		case <-ctx.Done():
			return Outcome{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// RunCommand returns a restart that runs the command line argv (systemctl restart
// partyline).
func RunCommand(argv ...string) func(context.Context) error {
	return func(ctx context.Context) error {
		if len(argv) == 0 {
			return errors.New("no restart command")
		}
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
}

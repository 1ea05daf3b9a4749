package appliance

import (
	"context"
	"log/slog"
	"time"

	"partyline/board/rpi"
)

// tellSystemd reports to systemd that the appliance is up, then feeds its watchdog until
// ctx is done, and reports that it is stopping. Outside systemd it does nothing.
func tellSystemd(ctx context.Context, log *slog.Logger) {
	if err := rpi.Notify("READY=1"); err != nil {
		log.Warn("systemd", "err", err)
	}
	defer func() {
		if err := rpi.Notify("STOPPING=1"); err != nil {
			log.Warn("systemd", "err", err)
		}
	}()
	interval, ok := rpi.WatchdogInterval()
	if !ok {
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(interval / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := rpi.Notify("WATCHDOG=1"); err != nil {
				log.Warn("systemd watchdog", "err", err)
			}
		}
	}
}

package gpio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

type result struct {
	active bool
	err    error
}

func startWait(ctx context.Context, s *Switch) <-chan result {
	ch := make(chan result, 1)
	go func() {
		a, err := s.Wait(ctx)
		ch <- result{a, err}
	}()
	return ch
}

// edge drives the fake line to l and lets the switch react.
func edge(p *gpiotest.Pin, l gpio.Level, after time.Duration) {
	p.EdgesChan <- l
	time.Sleep(after)
	synctest.Wait()
}

func TestSwitch(t *testing.T) {
	tests := []struct {
		name      string
		activeLow bool
		levels    []gpio.Level // one edge every 5 ms
		want      []result     // nil: nothing reported within a second
	}{
		{"active-low press", true, []gpio.Level{gpio.Low}, []result{{true, nil}}},
		{"active-high press", false, []gpio.Level{gpio.High}, []result{{true, nil}}},
		{"bounce back to rest rejected", true, []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High}, nil},
		{"bounce then press reported once", true, []gpio.Level{gpio.Low, gpio.High, gpio.Low}, []result{{true, nil}}},
		{"press and release", true, []gpio.Level{gpio.Low}, []result{{true, nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan gpio.Level, 16)}
				s, err := NewSwitch(p, tt.activeLow)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				got := startWait(ctx, s)
				for _, l := range tt.levels {
					edge(p, l, 5*time.Millisecond)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				select {
				case r := <-got:
					if len(tt.want) == 0 || r != tt.want[0] {
						t.Errorf("Wait = %v, want %v", r, tt.want)
					}
					// Reported once: the next Wait sees no further change.
					got = startWait(ctx, s)
					time.Sleep(time.Second)
					synctest.Wait()
					select {
					case r := <-got:
						t.Errorf("second Wait = %v, want nothing", r)
					default:
					}
				default:
					if len(tt.want) != 0 {
						t.Errorf("Wait reported nothing, want %v", tt.want[0])
					}
				}
				cancel()
				time.Sleep(2 * pollInterval) // let the Wait goroutines see ctx end
			})
		})
	}
}

func TestSwitchDebounceTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan gpio.Level, 16)}
		s, err := NewSwitch(p, true)
		if err != nil {
			t.Fatal(err)
		}
		got := startWait(t.Context(), s)
		edge(p, gpio.Low, DefaultDebounce-time.Millisecond)
		select {
		case r := <-got:
			t.Fatalf("Wait = %v before the debounce time, want nothing yet", r)
		default:
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if r := <-got; r != (result{true, nil}) {
			t.Errorf("Wait = %v, want active", r)
		}
	})
}

func TestSwitchStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan gpio.Level, 16)}
		s, err := NewSwitch(p, true)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		_, err = s.Wait(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait error = %v, want %v", err, context.DeadlineExceeded)
		}
	})
}

func TestLED(t *testing.T) {
	p := &gpiotest.Pin{N: "GPIO22"}
	l := NewLED(p)
	for _, on := range []bool{true, false, true} {
		if err := l.Set(on); err != nil {
			t.Fatal(err)
		}
		if got := p.Read(); got != gpio.Level(on) {
			t.Errorf("after Set(%v) pin = %v, want %v", on, got, gpio.Level(on))
		}
	}
	if err := l.Halt(); err != nil {
		t.Fatal(err)
	}
	if got := p.Read(); got != gpio.Low {
		t.Errorf("after Halt pin = %v, want Low", got)
	}
}

func TestOpenUnknownLine(t *testing.T) {
	_, err := OpenSwitch("GPIO99", true)
	if err == nil || !strings.Contains(err.Error(), "GPIO99") {
		t.Errorf("OpenSwitch(GPIO99) error = %v, want one naming GPIO99", err)
	}
	_, err = OpenLED("GPIO98")
	if err == nil || !strings.Contains(err.Error(), "GPIO98") {
		t.Errorf("OpenLED(GPIO98) error = %v, want one naming GPIO98", err)
	}
}

// heldPin is a line that reports a consumer, as a gpioioctl line requested by another
// driver or process does.
type heldPin struct {
	gpiotest.Pin
	consumer string
}

func (p *heldPin) Consumer() string { return p.consumer }

// register puts p into periph's registry under its name (and alias, if not ""), as the
// real drivers do, for the test's duration.
func register(t *testing.T, p gpio.PinIO, alias string) {
	t.Helper()
	if err := initPeriph(); err != nil { // so that the drivers do not register over p later
		t.Fatal(err)
	}
	if err := gpioreg.Register(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gpioreg.Unregister(p.Name()) })
	if alias != "" {
		if err := gpioreg.RegisterAlias(alias, p.Name()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gpioreg.Unregister(alias) })
	}
}

func TestOpenRefusesHeldLine(t *testing.T) {
	register(t, &heldPin{Pin: gpiotest.Pin{N: "TEST_HELD"}, consumer: "spi0 CS1"}, "TEST_HELD_ALIAS")
	for _, name := range []string{"TEST_HELD", "TEST_HELD_ALIAS"} {
		_, err := OpenSwitch(name, true)
		if want := name + `: line is in use by "spi0 CS1"`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("OpenSwitch(%s) error = %v, want one containing %q", name, err, want)
		}
		_, err = OpenLED(name)
		if err == nil || !strings.Contains(err.Error(), "in use by") {
			t.Errorf("OpenLED(%s) error = %v, want the line refused", name, err)
		}
	}
	free := &heldPin{Pin: gpiotest.Pin{N: "TEST_FREE", EdgesChan: make(chan gpio.Level, 1)}}
	register(t, free, "TEST_FREE_ALIAS")
	if _, err := OpenSwitch("TEST_FREE", true); err != nil {
		t.Errorf("OpenSwitch(free line) = %v", err)
	}
	// Requested, the line names this process as its consumer: opening it again is allowed.
	free.consumer = "gpio.test@1234"
	for _, name := range []string{"TEST_FREE", "TEST_FREE_ALIAS"} {
		if _, err := OpenSwitch(name, true); err != nil {
			t.Errorf("OpenSwitch(%s, opened before) = %v", name, err)
		}
	}
}

func TestOpenInterruptIsNotDebounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &gpiotest.Pin{N: "TEST_INT", EdgesChan: make(chan gpio.Level, 16)}
		register(t, p, "")
		s, err := OpenInterrupt("TEST_INT")
		if err != nil {
			t.Fatal(err)
		}
		if p.Pull() != gpio.PullUp {
			t.Errorf("pull = %v, want %v", p.Pull(), gpio.PullUp)
		}
		got := startWait(t.Context(), s)
		edge(p, gpio.Low, 0)
		if r := <-got; r != (result{true, nil}) {
			t.Errorf("Wait = %v, want asserted at once", r)
		}
		got = startWait(t.Context(), s)
		edge(p, gpio.High, 0)
		if r := <-got; r != (result{false, nil}) {
			t.Errorf("Wait = %v, want released at once", r)
		}
	})
}

func TestOpenI2CWithoutBus(t *testing.T) {
	_, err := OpenI2C("7")
	if err == nil || !strings.Contains(err.Error(), `open I2C bus "7"`) {
		t.Errorf("OpenI2C(7) error = %v, want one naming the bus", err)
	}
}

package peertest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestDNSResolvesOnceSet(t *testing.T) {
	d := StartDNS(t)
	r := d.Resolver()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := r.LookupNetIP(ctx, "ip", "pbx.partyline.test")
	if dnsErr := (*net.DNSError)(nil); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("a name not set: %v, want not found", err)
	}
	want := netip.MustParseAddr("127.0.0.7")
	d.Set("PBX.partyline.test.", want)
	got, err := r.LookupNetIP(ctx, "ip", "pbx.partyline.test")
	if err != nil || len(got) != 1 || got[0].Unmap() != want {
		t.Fatalf("a name set: %v, %v; want %v", got, err, want)
	}
}

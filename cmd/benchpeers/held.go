package main

import (
	"maps"
	"slices"
	"time"
)

// A packet is one RTP datagram of the capture, to or from partyline.
type packet struct {
	at       time.Duration // its capture time stamp
	src, dst uint16        // its UDP ports
	payload  uint64        // a hash of the bytes of its payload the capture kept
	sent     bool          // partyline sent it (it came from one of its ports)
}

// holdWindow is how far back a sent packet's payload is looked for among those partyline
// received: far more than the relay's tick, far less than the callers' audio loop.
const holdWindow = 200 * time.Millisecond

// held measures how long partyline held each packet it relayed, from the capture's
// packets in time order: the time from a payload's arrival at one of its ports to the
// same payload leaving from another. A relay that passes the payload through sends each
// packet unchanged on the call's other leg, so the capture shows both. Which port's
// arrivals feed which port's sends is not known beforehand, and other calls carry the same
// audio some packets earlier or later: each sent packet votes for the port that received
// its payload last before it, and the port with the most votes is the one it is taken
// from. That is right while partyline holds most packets for less than the time between
// two calls' starts (20 ms in the scale run), and than the conference takes to echo them.
// It returns the times, by the stream partyline sent (source and destination port).
func held(pkts []packet) map[[2]uint16][]time.Duration {
	type arrival struct {
		port uint16
		at   time.Duration
	}
	recent := map[uint64][]arrival{}
	votes := map[uint16]map[uint16]int{}
	for _, p := range pkts {
		if !p.sent {
			r := recent[p.payload]
			for len(r) > 0 && p.at-r[0].at > holdWindow {
				r = r[1:]
			}
			recent[p.payload] = append(r, arrival{p.dst, p.at})
			continue
		}
		r := recent[p.payload]
		for i := len(r) - 1; i >= 0; i-- {
			if p.at-r[i].at <= holdWindow {
				if votes[p.src] == nil {
					votes[p.src] = map[uint16]int{}
				}
				votes[p.src][r[i].port]++
				break
			}
		}
	}
	from := map[uint16]uint16{}
	for out, v := range votes {
		best := 0
		for _, in := range slices.Sorted(maps.Keys(v)) {
			if v[in] > best {
				from[out], best = in, v[in]
			}
		}
	}
	type key struct {
		payload uint64
		port    uint16
	}
	last := map[key]time.Duration{}
	times := map[[2]uint16][]time.Duration{}
	for _, p := range pkts {
		if !p.sent {
			last[key{p.payload, p.dst}] = p.at
			continue
		}
		in, ok := from[p.src]
		if !ok {
			continue
		}
		if at, ok := last[key{p.payload, in}]; ok && p.at-at <= holdWindow {
			s := [2]uint16{p.src, p.dst}
			times[s] = append(times[s], p.at-at)
		}
	}
	return times
}

// moved returns, per stream of times (held's, in send order), how far partyline moved
// each packet's send from where the one before it put it: the difference between two
// packets' times held. It is how much partyline added to the deviation of the stream's
// send intervals from its arrival intervals: all of it, for a caller sending like a clock.
func moved(times map[[2]uint16][]time.Duration) map[[2]uint16][]time.Duration {
	m := map[[2]uint16][]time.Duration{}
	for s, ts := range times {
		for i := 1; i < len(ts); i++ {
			d := ts[i] - ts[i-1]
			m[s] = append(m[s], max(d, -d))
		}
	}
	return m
}

// p99s returns, over the streams of times, how many there are, and the median and the
// largest of each one's 99th percentile. It sorts each stream's times.
func p99s(times map[[2]uint16][]time.Duration) (n int, median, most time.Duration) {
	var p []time.Duration
	for _, ts := range times {
		if len(ts) == 0 {
			continue
		}
		slices.Sort(ts)
		p = append(p, ts[len(ts)*99/100])
	}
	if len(p) == 0 {
		return 0, 0, 0
	}
	slices.Sort(p)
	return len(p), p[len(p)/2], p[len(p)-1]
}

//go:build cgo

package opus_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Ogg Opus (RFC 7845) as far as the ffmpeg tests need: one mono stream, one packet per
// page.

// oggCRC is the CRC-32 of Ogg pages: polynomial 0x04c11db7, not reflected, no final xor.
func oggCRC(p []byte) uint32 {
	var crc uint32
	for _, b := range p {
		crc ^= uint32(b) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// oggWriter writes packets as Ogg pages.
type oggWriter struct {
	buf bytes.Buffer
	seq uint32
}

func (w *oggWriter) page(packet []byte, granule int64, flags byte) {
	var h [27]byte
	copy(h[:], "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], uint64(granule))
	binary.LittleEndian.PutUint32(h[14:], 0x7061726c) // serial
	binary.LittleEndian.PutUint32(h[18:], w.seq)
	w.seq++
	var lacing []byte
	n := len(packet)
	for n >= 255 {
		lacing = append(lacing, 255)
		n -= 255
	}
	lacing = append(lacing, byte(n))
	h[26] = byte(len(lacing))
	page := append(append(h[:], lacing...), packet...)
	binary.LittleEndian.PutUint32(page[22:], oggCRC(page))
	w.buf.Write(page)
}

// oggOpus returns packets, of 48 kHz frames at sample rate rate, as an Ogg Opus file.
func oggOpus(packets [][]byte, frameSamples48k int, rate int) []byte {
	w := &oggWriter{}
	head := []byte("OpusHead\x01\x01")
	head = binary.LittleEndian.AppendUint16(head, 0) // pre-skip: the test finds the delay itself
	head = binary.LittleEndian.AppendUint32(head, uint32(rate))
	head = append(head, 0, 0, 0) // gain, mapping family 0
	w.page(head, 0, 0x02)
	tags := []byte("OpusTags")
	tags = binary.LittleEndian.AppendUint32(tags, 9)
	tags = append(tags, "partyline"...)
	tags = binary.LittleEndian.AppendUint32(tags, 0)
	w.page(tags, 0, 0)
	for i, p := range packets {
		flags := byte(0)
		if i == len(packets)-1 {
			flags = 0x04
		}
		w.page(p, int64(i+1)*int64(frameSamples48k), flags)
	}
	return w.buf.Bytes()
}

// oggPackets returns the audio packets of an Ogg Opus file, after its two header packets.
func oggPackets(file []byte) ([][]byte, error) {
	var packets [][]byte
	var partial []byte
	for len(file) > 0 {
		if len(file) < 27 || string(file[:4]) != "OggS" {
			return nil, errors.New("not an Ogg page")
		}
		nseg := int(file[26])
		if len(file) < 27+nseg {
			return nil, errors.New("short Ogg page")
		}
		lacing := file[27 : 27+nseg]
		body := file[27+nseg:]
		for _, l := range lacing {
			if len(body) < int(l) {
				return nil, errors.New("short Ogg segment")
			}
			partial = append(partial, body[:l]...)
			body = body[l:]
			if l < 255 {
				packets = append(packets, partial)
				partial = nil
			}
		}
		file = body
	}
	if len(packets) < 2 || !bytes.HasPrefix(packets[0], []byte("OpusHead")) {
		return nil, fmt.Errorf("no Opus header in %d packets", len(packets))
	}
	return packets[2:], nil
}

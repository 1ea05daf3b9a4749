// Package promtext writes metrics in Prometheus's text exposition format, version 0.0.4:
// the format every Prometheus server scrapes. It is what the admin page's /metrics needs
// of a client library, a few descriptions and the samples of one scrape, without a
// library's registry, its protobuf encoding and their memory: the appliance reads its
// state when it is scraped and has nothing to register.
package promtext

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ContentType is the HTTP content type of what Set.WriteTo writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Kind is a metric family's type, as its # TYPE line says.
type Kind string

// The kinds the appliance reports.
const (
	Gauge   Kind = "gauge"
	Counter Kind = "counter"
)

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// A Desc describes a metric family: its name, help text, kind and label names.
type Desc struct {
	name, help string
	kind       Kind
	labels     []string
	order      []int // label indexes in name order: the order they are written in
}

// NewDesc returns the description of the family name of kind with the labels. It panics
// when a name is not one Prometheus accepts, as regexp.MustCompile does on a bad
// expression: descriptions are the program's constants.
func NewDesc(name, help string, kind Kind, labels ...string) *Desc {
	if !metricName.MatchString(name) {
		panic(fmt.Sprintf("promtext: %q is not a metric name", name))
	}
	for _, l := range labels {
		if !labelName.MatchString(l) || strings.HasPrefix(l, "__") {
			panic(fmt.Sprintf("promtext: metric %s: %q is not a label name", name, l))
		}
	}
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	return &Desc{name: name, help: help, kind: kind, labels: labels, order: order}
}

// A Set gathers the samples of one scrape, by family, in the order the families were
// first added to. Its zero value is empty and ready to use; it is not safe for concurrent
// use.
type Set struct {
	families []*family
	byDesc   map[*Desc]*family
	err      error // the first mistake Add found
}

type family struct {
	d       *Desc
	samples []sample
}

type sample struct {
	values []string // in the order of d.labels
	v      float64
}

// Add adds a sample of d with the value v and the label values, one per label name of d
// in its order. A wrong number of values is reported by WriteTo.
func (s *Set) Add(d *Desc, v float64, values ...string) {
	if len(values) != len(d.labels) {
		if s.err == nil {
			s.err = fmt.Errorf("metric %s: %d label values for the labels %v", d.name, len(values), d.labels)
		}
		return
	}
	f := s.byDesc[d]
	if f == nil {
		if s.byDesc == nil {
			s.byDesc = map[*Desc]*family{}
		}
		f = &family{d: d}
		s.byDesc[d] = f
		s.families = append(s.families, f)
	}
	f.samples = append(f.samples, sample{values: values, v: v})
}

// WriteTo writes the set in the text format: each family's # HELP and # TYPE lines, then
// its samples sorted by their label values, labels in name order. It writes nothing, and
// returns the error, when a sample had the wrong number of label values or two samples of
// a family have the same labels: Prometheus would refuse the whole scrape.
func (s *Set) WriteTo(w io.Writer) (int64, error) {
	if s.err != nil {
		return 0, s.err
	}
	var b bytes.Buffer
	for _, f := range s.families {
		d := f.d
		slices.SortStableFunc(f.samples, func(x, y sample) int {
			for _, i := range d.order {
				if c := strings.Compare(x.values[i], y.values[i]); c != 0 {
					return c
				}
			}
			return 0
		})
		b.WriteString("# HELP " + d.name + " " + helpEscaper.Replace(d.help) + "\n")
		b.WriteString("# TYPE " + d.name + " " + string(d.kind) + "\n")
		for j, smp := range f.samples {
			if j > 0 && slices.Equal(smp.values, f.samples[j-1].values) {
				return 0, fmt.Errorf("metric %s: two samples with the labels %v", d.name, smp.values)
			}
			b.WriteString(d.name)
			sep := "{"
			for _, i := range d.order {
				b.WriteString(sep + d.labels[i] + `="` + valueEscaper.Replace(smp.values[i]) + `"`)
				sep = ","
			}
			if len(d.order) > 0 {
				b.WriteString("}")
			}
			b.WriteString(" " + formatValue(smp.v) + "\n")
		}
	}
	return b.WriteTo(w)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// formatValue writes v as the format wants it: the shortest decimal that reads back as v,
// and +Inf, -Inf or NaN.
func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

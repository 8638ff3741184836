// Package metrics emits CloudWatch metrics as embedded-metric-format (EMF) JSON log
// lines: one line per event on the function's standard output, which CloudWatch Logs
// turns into metrics — no API call, nothing lost on a timeout (docs/design.md,
// "Metrics and alarms"). Every metric the code may emit is declared here (Def), with its
// dimension sets, so template.yaml's alarms can be checked against the catalog.
package metrics

import (
	"encoding/json"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// Namespace of every metric.
const Namespace = "AlipayServerless"

// Def is one metric: its name and the dimension sets it is published under (each set a
// list of dimension names; an empty set publishes the metric without dimensions).
type Def struct {
	Name       string
	Dimensions [][]string
}

// The catalog. Dimension values are fixed words chosen by the code, never input.
var (
	// Notifications: every notification handled, by Outcome (applied, duplicate, stale,
	// rejected).
	Notifications = Def{"Notifications", [][]string{{"Outcome"}}}
	// NotificationsRejected: refusals by Reason (signature, forgery, mismatch,
	// malformed, unavailable, unknown_type, not_form, too_large).
	NotificationsRejected = Def{"NotificationsRejected", [][]string{{"Reason"}}}
	// ForgedNotifications: a signature that does not verify, or a verified signature put
	// to another use (a re-split notice). Alarmed.
	ForgedNotifications = Def{"ForgedNotifications", [][]string{{}}}
	// GatewayCalls: every gateway call by Method and Class (success, business_error,
	// unknown, not_sent), and by Class alone for the unknown-outcome alarm.
	GatewayCalls = Def{"GatewayCalls", [][]string{{"Method", "Class"}, {"Class"}}}
	// OperationsUnknown: a money-moving call (voucher, capture, refund…) recorded with an
	// unknown outcome, by Kind, and in total.
	OperationsUnknown = Def{"OperationsUnknown", [][]string{{"Kind"}, {}}}
	// ReconcileResolved, ReconcileStuck, ReconcileErrors: the reconciler's items, by
	// due Kind and in total. Stuck and errors are alarmed.
	ReconcileResolved = Def{"ReconcileResolved", [][]string{{"Kind"}, {}}}
	ReconcileStuck    = Def{"ReconcileStuck", [][]string{{"Kind"}, {}}}
	ReconcileErrors   = Def{"ReconcileErrors", [][]string{{"Kind"}, {}}}
	// PaidAfterClose: a genuine payment recorded on an order we had closed without
	// Alipay's word. Alarmed: the merchant refunds or fulfils it.
	PaidAfterClose = Def{"PaidAfterClose", [][]string{{}}}
)

// Catalog lists every Def.
var Catalog = []Def{Notifications, NotificationsRejected, ForgedNotifications, GatewayCalls, OperationsUnknown,
	ReconcileResolved, ReconcileStuck, ReconcileErrors, PaidAfterClose}

// Emitter writes EMF lines. It is safe for concurrent use; lines are never interleaved.
type Emitter struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// New returns an emitter writing to w (os.Stdout in Lambda).
func New(w io.Writer) *Emitter { return &Emitter{w: w, now: time.Now} }

var (
	defMu   sync.RWMutex
	current = New(io.Discard)
)

// SetDefault makes e the emitter of Count; nil discards. Each function sets it once at
// start (platform.Main, cmd/local).
func SetDefault(e *Emitter) {
	if e == nil {
		e = New(io.Discard)
	}
	defMu.Lock()
	current = e
	defMu.Unlock()
}

// Default is the emitter Count uses.
func Default() *Emitter {
	defMu.RLock()
	defer defMu.RUnlock()
	return current
}

// Count emits n of d on the default emitter; dims gives a value to every dimension d
// names (missing ones are written as "none").
func Count(d Def, n int, dims map[string]string) { Default().Count(d, n, dims) }

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// Count emits one EMF line: {"_aws":{…},"<dimension>":"<value>",…,"<name>":n}.
func (e *Emitter) Count(d Def, n int, dims map[string]string) {
	line := map[string]any{}
	for _, set := range d.Dimensions {
		for _, k := range set {
			v := dims[k]
			if v == "" {
				v = "none"
			}
			line[k] = v
		}
	}
	line["_aws"] = emfMeta{
		Timestamp: e.now().UnixMilli(),
		CloudWatchMetrics: []emfDirective{{Namespace: Namespace, Dimensions: cloneSets(d.Dimensions),
			Metrics: []emfMetric{{Name: d.Name, Unit: "Count"}}}},
	}
	line[d.Name] = n
	b, err := json.Marshal(line)
	if err != nil {
		return // only strings and ints: cannot happen
	}
	b = append(b, '\n')
	e.mu.Lock()
	_, _ = e.w.Write(b)
	e.mu.Unlock()
}

func cloneSets(sets [][]string) [][]string {
	out := make([][]string, len(sets))
	for i, s := range sets {
		out[i] = append([]string{}, s...)
	}
	return out
}

// Line is one decoded EMF line. Parse and Line are the emitter's inverse, for the tests
// of every package that emits (no binary reads its own metrics).
type Line struct {
	Name  string
	Value float64
	Dims  map[string]string
	Sets  [][]string
	Space string
}

// Parse decodes the EMF lines in out (other lines are skipped).
func Parse(out []byte) []Line {
	var lines []Line
	for _, raw := range splitLines(out) {
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		aws, _ := m["_aws"].(map[string]any)
		dirs, _ := aws["CloudWatchMetrics"].([]any)
		for _, d := range dirs {
			dir, _ := d.(map[string]any)
			ns, _ := dir["Namespace"].(string)
			var sets [][]string
			dimNames := map[string]bool{}
			for _, s := range asSlice(dir["Dimensions"]) {
				var set []string
				for _, k := range asSlice(s) {
					name, _ := k.(string)
					set = append(set, name)
					dimNames[name] = true
				}
				sets = append(sets, set)
			}
			for _, mt := range asSlice(dir["Metrics"]) {
				mm, _ := mt.(map[string]any)
				name, _ := mm["Name"].(string)
				v, _ := m[name].(float64)
				dims := map[string]string{}
				for k := range maps.Keys(dimNames) {
					dims[k], _ = m[k].(string)
				}
				lines = append(lines, Line{Name: name, Value: v, Dims: dims, Sets: sets, Space: ns})
			}
		}
	}
	return lines
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := slices.Index(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i])
		b = b[i+1:]
	}
	return out
}

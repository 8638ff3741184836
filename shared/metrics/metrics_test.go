package metrics

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// TestCountWritesOneEMFLine: the line is CloudWatch's embedded metric format: _aws with
// the timestamp, namespace, dimension sets and metric, then the dimension values and the
// value at top level.
func TestCountWritesOneEMFLine(t *testing.T) {
	var b bytes.Buffer
	e := New(&b)
	e.now = func() time.Time { return time.UnixMilli(1767225600000) }
	e.Count(GatewayCalls, 1, map[string]string{"Method": "alipay.trade.query", "Class": "unknown"})
	if bytes.Count(b.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", b.String())
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	aws := m["_aws"].(map[string]any)
	dir := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if aws["Timestamp"] != float64(1767225600000) || dir["Namespace"] != Namespace || m["Method"] != "alipay.trade.query" ||
		m["Class"] != "unknown" || m["GatewayCalls"] != float64(1) {
		t.Fatalf("line %s", b.String())
	}
	lines := Parse(b.Bytes())
	if len(lines) != 1 || !slices.EqualFunc(lines[0].Sets, GatewayCalls.Dimensions, slices.Equal) {
		t.Fatalf("parsed %+v", lines)
	}
}

func TestMissingDimensionValuesAreNoneAndNoDimensionSetsAreEmpty(t *testing.T) {
	var b bytes.Buffer
	New(&b).Count(ReconcileStuck, 1, nil)
	l := Parse(b.Bytes())
	if len(l) != 1 || l[0].Dims["Kind"] != "none" || len(l[0].Sets) != 2 || len(l[0].Sets[1]) != 0 {
		t.Fatalf("%+v from %s", l, b.String())
	}
}

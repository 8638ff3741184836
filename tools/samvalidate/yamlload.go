package samvalidate

// Loading a CloudFormation / SAM template (YAML or JSON) into plain Go values
// (map[string]any, []any, string, json.Number, bool, nil), turning the
// short-form intrinsic tags (!Ref, !Sub, !GetAtt, ...) into their long form
// ({"Ref": ...}, {"Fn::Sub": ...}) and remembering where every value and key
// sits in the file, so that findings can point at a line.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

type Pos struct{ Line, Col int }

type Template struct {
	Path   string
	Root   map[string]any
	ValPos map[string]Pos // JSON pointer -> position of the value
	KeyPos map[string]Pos // JSON pointer -> position of the mapping key naming it
	Errs   []Finding      // problems found while loading (duplicate keys, bad tags)
}

// short-form tag -> long-form key
var shortTags = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!FindInMap": "Fn::FindInMap",
	"!GetAtt": "Fn::GetAtt", "!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue",
	"!Join": "Fn::Join", "!Select": "Fn::Select", "!Split": "Fn::Split", "!Sub": "Fn::Sub",
	"!Transform": "Fn::Transform", "!And": "Fn::And", "!Equals": "Fn::Equals", "!If": "Fn::If",
	"!Not": "Fn::Not", "!Or": "Fn::Or", "!ToJsonString": "Fn::ToJsonString", "!Length": "Fn::Length",
	"!ForEach": "Fn::ForEach", "!GetStackOutput": "Fn::GetStackOutput",
}

func ptrEscape(s string) string {
	s = strings.ReplaceAll(s, "~", "~0")
	return strings.ReplaceAll(s, "/", "~1")
}

func joinPtr(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(ptrEscape(p))
	}
	return b.String()
}

func loadTemplate(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t := &Template{Path: path, ValPos: map[string]Pos{}, KeyPos: map[string]Pos{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML/JSON: %v", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("the file is empty")
	}
	v := t.conv(doc.Content[0], "")
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the top level of a template must be a mapping (got %s)", typeName(v))
	}
	t.Root = m
	return t, nil
}

func (t *Template) errAt(n *yaml.Node, ptr, format string, args ...any) {
	t.Errs = append(t.Errs, Finding{Sev: sevError, Ptr: ptr, Pos: Pos{n.Line, n.Column}, Msg: fmt.Sprintf(format, args...)})
}

func (t *Template) conv(n *yaml.Node, ptr string) any {
	if _, seen := t.ValPos[ptr]; !seen {
		t.ValPos[ptr] = Pos{n.Line, n.Column}
	}
	if n.Kind == yaml.AliasNode {
		return t.conv(n.Alias, ptr)
	}
	tag := n.Tag
	if strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		long, ok := shortTags[tag]
		if !ok {
			t.errAt(n, ptr, "unknown YAML tag %s (CloudFormation knows only the short forms of its intrinsic functions, such as !Ref, !Sub, !GetAtt)", tag)
			long = "Fn::" + strings.TrimPrefix(tag, "!")
		}
		key := joinPtr(long)
		var arg any
		if n.Kind == yaml.ScalarNode {
			arg = n.Value
			if long == "Fn::GetAtt" {
				// !GetAtt Res.Attr.Sub -> ["Res", "Attr.Sub"]
				if i := strings.Index(n.Value, "."); i >= 0 {
					arg = []any{n.Value[:i], n.Value[i+1:]}
				} else {
					arg = []any{n.Value}
				}
			}
			t.ValPos[ptr+key] = Pos{n.Line, n.Column}
		} else {
			cp := *n
			cp.Tag = ""
			if n.Kind == yaml.MappingNode {
				cp.Tag = "!!map"
			} else if n.Kind == yaml.SequenceNode {
				cp.Tag = "!!seq"
			}
			arg = t.conv(&cp, ptr+key)
		}
		return map[string]any{long: arg}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return t.conv(n.Content[0], ptr)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		t.fillMap(m, n, ptr)
		return m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			l = append(l, t.conv(c, ptr+"/"+strconv.Itoa(i)))
		}
		return l
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil
}

func (t *Template) fillMap(m map[string]any, n *yaml.Node, ptr string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "!!merge" || k.Tag == "") {
			src := v
			if src.Kind == yaml.AliasNode {
				src = src.Alias
			}
			if src.Kind == yaml.MappingNode {
				tmp := map[string]any{}
				t.fillMap(tmp, src, ptr)
				for kk, vv := range tmp {
					if _, exists := m[kk]; !exists {
						m[kk] = vv
					}
				}
			}
			continue
		}
		key := k.Value
		if k.Kind != yaml.ScalarNode {
			t.errAt(k, ptr, "mapping keys must be plain strings")
			continue
		}
		cptr := ptr + "/" + ptrEscape(key)
		if _, dup := m[key]; dup {
			t.errAt(k, cptr, "duplicate key %q (the later value would silently win)", key)
		}
		t.KeyPos[cptr] = Pos{k.Line, k.Column}
		m[key] = t.conv(v, cptr)
	}
}

func scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b
		}
	case "!!int":
		var x any
		if err := n.Decode(&x); err == nil {
			switch v := x.(type) {
			case int:
				return json.Number(strconv.FormatInt(int64(v), 10))
			case int64:
				return json.Number(strconv.FormatInt(v, 10))
			case uint64:
				return json.Number(strconv.FormatUint(v, 10))
			}
		}
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	// strings, timestamps (e.g. an unquoted 2010-09-09), binary, anything odd
	return n.Value
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "mapping"
	case []any:
		return "list"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

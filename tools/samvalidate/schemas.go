package samvalidate

// JSON-schema side: the SAM schema (AWS::Serverless::* and Globals) and the
// CloudFormation resource provider schemas (every other AWS:: type), loaded
// from the data files in the schemas folder and adapted so that
//   - CloudFormation intrinsic functions are accepted wherever a value goes;
//   - scalars are as lenient as CloudFormation is ("256" for an integer,
//     5 for a string, "true" for a boolean);
//   - SAM properties that SAM passes straight to a CloudFormation resource
//     (Runtime, Architectures, MemorySize, Timeout, ...) are checked against
//     that CloudFormation property's schema, as SAM's own combined schema does;
//   - lists of alternatives keyed by a Type (event sources) are dispatched on
//     Type, so that a mistake yields one clear message instead of twenty.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

const (
	baseURL      = "https://samvalidate.invalid/"
	samURL       = baseURL + "sam.schema.json"
	intrinsicURL = baseURL + "intrinsic.json"
	cfnPrefix    = baseURL + "cfn/"

	intPattern  = `^\s*[-+]?[0-9]+\s*$`
	numPattern  = `^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$`
	boolPattern = `^(true|false|True|False|TRUE|FALSE)$`
)

var intrinsicNames = []any{
	"Ref", "Fn::Base64", "Fn::Cidr", "Fn::FindInMap", "Fn::GetAtt", "Fn::GetAZs",
	"Fn::If", "Fn::ImportValue", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::Sub",
	"Fn::Transform", "Fn::ToJsonString", "Fn::Length", "Fn::GetStackOutput",
}

// Schemas is the loaded schema data; not safe for concurrent use (it caches compiled
// schemas as it goes).
type Schemas struct {
	fsys      fs.FS
	raw       map[string]json.RawMessage // CloudFormation type -> provider schema (undecoded)
	cfnDocs   map[string]map[string]any  // CloudFormation type -> adapted schema
	samDoc    map[string]any             // adapted SAM schema
	samRes    map[string]string          // AWS::Serverless::X -> definition name
	policies  map[string]PolicyTemplate
	compiler  *jsonschema.Compiler
	compiled  map[string]*jsonschema.Schema
	badRegexp int
}

type PolicyTemplate struct {
	Description string
	Parameters  map[string]any
}

func cfnURL(typ string) string { return cfnPrefix + strings.ReplaceAll(typ, "::", "--") + ".json" }

// LoadSchemas reads sam.schema.json, sam-policy-templates.json and
// cloudformation-resource-schemas.json from fsys.
func LoadSchemas(fsys fs.FS) (*Schemas, error) {
	s := &Schemas{fsys: fsys, cfnDocs: map[string]map[string]any{}, compiled: map[string]*jsonschema.Schema{}}
	data, err := fs.ReadFile(fsys, "cloudformation-resource-schemas.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &s.raw); err != nil {
		return nil, fmt.Errorf("cloudformation-resource-schemas.json: %v", err)
	}
	samData, err := fs.ReadFile(fsys, "sam.schema.json")
	if err != nil {
		return nil, err
	}
	samAny, err := jsonschema.UnmarshalJSON(bytes.NewReader(samData))
	if err != nil {
		return nil, fmt.Errorf("sam.schema.json: %v", err)
	}
	sam, _ := samAny.(map[string]any)
	if sam == nil {
		return nil, fmt.Errorf("sam.schema.json: not an object")
	}
	pdata, err := fs.ReadFile(fsys, "sam-policy-templates.json")
	if err != nil {
		return nil, err
	}
	var pt struct{ Templates map[string]PolicyTemplate }
	if err := json.Unmarshal(pdata, &pt); err != nil {
		return nil, fmt.Errorf("sam-policy-templates.json: %v", err)
	}
	s.policies = pt.Templates

	s.samRes = map[string]string{}
	defs, _ := sam["definitions"].(map[string]any)
	samDefsCache = defs
	for name, d := range defs {
		if !strings.HasSuffix(name, "__Resource") {
			continue
		}
		if typ := singleEnum(d, "Type"); strings.HasPrefix(typ, "AWS::Serverless::") {
			s.samRes[typ] = name
		}
	}
	s.samDoc = s.adaptSAM(sam).(map[string]any)
	// draft-04 knows neither if/then nor const, which the adapted schema uses
	s.samDoc["$schema"] = "http://json-schema.org/draft-07/schema#"

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(loaderFunc(s.load))
	c.UseRegexpEngine(func(p string) (jsonschema.Regexp, error) {
		re, err := regexp.Compile(p)
		if err != nil {
			// Patterns written for other regexp engines (lookaheads, ...) cannot
			// be checked here; accept every value rather than fail.
			s.badRegexp++
			return anyRegexp(p), nil
		}
		return re, nil
	})
	s.compiler = c
	return s, nil
}

type anyRegexp string

func (a anyRegexp) String() string            { return string(a) }
func (a anyRegexp) MatchString(s string) bool { return true }

type loaderFunc func(string) (any, error)

func (f loaderFunc) Load(url string) (any, error) { return f(url) }

func (s *Schemas) load(url string) (any, error) {
	switch {
	case url == samURL:
		return s.samDoc, nil
	case url == intrinsicURL:
		return map[string]any{
			"type": "object", "minProperties": json.Number("1"), "maxProperties": json.Number("1"),
			"propertyNames": map[string]any{"enum": intrinsicNames},
		}, nil
	case strings.HasPrefix(url, cfnPrefix):
		typ := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(url, cfnPrefix), ".json"), "--", "::")
		if d := s.cfnDoc(typ); d != nil {
			return d, nil
		}
	}
	return nil, fmt.Errorf("no schema at %s", url)
}

func (s *Schemas) hasCFN(typ string) bool { _, ok := s.raw[typ]; return ok }

// cfnDoc returns the adapted provider schema of a CloudFormation type (nil if unknown).
func (s *Schemas) cfnDoc(typ string) map[string]any {
	if d, ok := s.cfnDocs[typ]; ok {
		return d
	}
	raw, ok := s.raw[typ]
	if !ok {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	m, _ := v.(map[string]any)
	if m == nil {
		return nil
	}
	d := adaptCFN(m, false).(map[string]any)
	delete(d, "$schema")
	delete(d, "$id")
	delete(d, "id")
	s.cfnDocs[typ] = d
	return d
}

// rawCFN decodes a provider schema as is (for attribute lists and the like).
func (s *Schemas) rawCFN(typ string) map[string]any {
	raw, ok := s.raw[typ]
	if !ok {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

func (s *Schemas) compile(loc string) (*jsonschema.Schema, error) {
	if sch, ok := s.compiled[loc]; ok {
		return sch, nil
	}
	sch, err := s.compiler.Compile(loc)
	if err != nil {
		return nil, err
	}
	s.compiled[loc] = sch
	return sch, nil
}

// ---- adapting CloudFormation provider schemas

var valueKeywords = map[string]bool{"properties": true, "patternProperties": true, "definitions": true, "$defs": true}
var subschemaKeywords = map[string]bool{"additionalProperties": true, "items": true, "additionalItems": true, "contains": true, "unevaluatedItems": true, "unevaluatedProperties": true}
var inPlaceKeywords = map[string]bool{"allOf": true, "anyOf": true, "oneOf": true, "not": true, "if": true, "then": true, "else": true, "dependentSchemas": true, "prefixItems": true}

// adaptCFN walks a schema; wrap says whether this schema sits where a template
// value goes (and so must also accept an intrinsic function instead).
func adaptCFN(v any, wrap bool) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m)+2)
	for k, val := range m {
		switch {
		case valueKeywords[k]:
			if mm, ok := val.(map[string]any); ok {
				nm := make(map[string]any, len(mm))
				for name, sub := range mm {
					nm[name] = adaptCFN(sub, true)
				}
				out[k] = nm
			} else {
				out[k] = val
			}
		case subschemaKeywords[k]:
			if l, ok := val.([]any); ok {
				nl := make([]any, len(l))
				for i, sub := range l {
					nl[i] = adaptCFN(sub, true)
				}
				out[k] = nl
			} else {
				out[k] = adaptCFN(val, k != "contains")
			}
		case inPlaceKeywords[k]:
			switch vv := val.(type) {
			case []any:
				nl := make([]any, len(vv))
				for i, sub := range vv {
					nl[i] = adaptCFN(sub, false)
				}
				out[k] = nl
			case map[string]any:
				if k == "dependentSchemas" {
					nm := map[string]any{}
					for name, sub := range vv {
						nm[name] = adaptCFN(sub, false)
					}
					out[k] = nm
				} else {
					out[k] = adaptCFN(vv, false)
				}
			default:
				out[k] = val
			}
		default:
			out[k] = val
		}
	}
	relaxTypes(out)
	if !wrap || len(out) == 0 {
		return out
	}
	return map[string]any{"if": map[string]any{"$ref": intrinsicURL}, "else": out}
}

// relaxTypes makes scalar types as lenient as CloudFormation: it converts
// between strings, numbers and booleans when it passes values to a resource.
func relaxTypes(m map[string]any) {
	t, ok := m["type"]
	if !ok {
		return
	}
	var types []string
	switch tv := t.(type) {
	case string:
		types = []string{tv}
	case []any:
		for _, x := range tv {
			if s, ok := x.(string); ok {
				types = append(types, s)
			}
		}
	default:
		return
	}
	has := map[string]bool{}
	for _, x := range types {
		has[x] = true
	}
	add := func(x string) {
		if !has[x] {
			has[x] = true
			types = append(types, x)
		}
	}
	_, hasPattern := m["pattern"]
	switch {
	case has["string"]:
		add("number")
		add("boolean")
	case has["integer"] || has["number"]:
		add("string")
		if !hasPattern {
			if has["number"] {
				m["pattern"] = numPattern
			} else {
				m["pattern"] = intPattern
			}
		}
	case has["boolean"]:
		add("string")
		if !hasPattern {
			m["pattern"] = boolPattern
		}
	}
	l := make([]any, len(types))
	for i, x := range types {
		l[i] = x
	}
	m["type"] = l
}

// ---- adapting the SAM schema

func (s *Schemas) adaptSAM(v any) any {
	switch vv := v.(type) {
	case []any:
		out := make([]any, len(vv))
		for i, x := range vv {
			out[i] = s.adaptSAM(x)
		}
		return out
	case map[string]any:
		if pt, ok := vv["__samPassThrough"].(map[string]any); ok {
			if ref := s.passThroughRef(pt["schemaPath"]); ref != "" {
				return map[string]any{"$ref": ref}
			}
			return map[string]any{}
		}
		out := make(map[string]any, len(vv))
		for k, x := range vv {
			if k == "markdownDescription" || k == "description" {
				continue
			}
			if props, ok := x.(map[string]any); ok && k == "properties" {
				np := make(map[string]any, len(props))
				for name, p := range props {
					if pm, ok := p.(map[string]any); ok && pm["type"] == "string" && pm["enum"] == nil {
						// SAM resolves intrinsic functions in most string fields
						cp := map[string]any{}
						for kk, vv := range pm {
							cp[kk] = vv
						}
						cp["type"] = []any{"string", "object"}
						p = cp
					}
					if name == "UserPoolArn" {
						// SAM takes a list of user pools too (its schema says string)
						np[name] = map[string]any{}
						continue
					}
					if pt, ok := asMap(p)["__samPassThrough"].(map[string]any); ok {
						// only when SAM keeps the name: a renamed property (Api
						// EndpointConfiguration.Type -> Types, ...) is reshaped
						if path, _ := pt["schemaPath"].([]any); len(path) > 0 && path[len(path)-1] != name {
							np[name] = map[string]any{}
							continue
						}
					}
					if isPassThroughOnly(p) {
						md, _ := asMap(p)["markdownDescription"].(string)
						if ref := s.markdownRef(name, md); ref != "" {
							np[name] = map[string]any{"$ref": ref}
							continue
						}
					}
					np[name] = s.adaptSAM(p)
				}
				out[k] = np
				continue
			}
			out[k] = s.adaptSAM(x)
		}
		if alts, ok := out["anyOf"].([]any); ok {
			// SAM writes "intrinsic function allowed" as a first alternative
			// {"type": "object"} (SamIntrinsicable), which lets any mapping
			// through; make it "an intrinsic function" instead.
			if len(alts) >= 2 && isBareObject(alts[0]) {
				others := false
				for _, a := range alts[1:] {
					others = others || isBareObject(a)
				}
				if !others {
					na := append([]any{map[string]any{"$ref": intrinsicURL}}, alts[1:]...)
					out["anyOf"] = na
					alts = na
				}
			}
			s.discriminate(out, alts)
		}
		return out
	}
	return v
}

// passThroughRef turns SAM's pointer into its combined schema, such as
// [definitions AWS::Lambda::Function properties Properties properties Runtime]
// or [definitions AWS::Lambda::LayerVersion.Content properties S3Bucket], into
// a reference into the matching provider schema ("" when there is none).
func (s *Schemas) passThroughRef(p any) string {
	l, ok := p.([]any)
	if !ok || len(l) < 4 {
		return ""
	}
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i], _ = x.(string)
	}
	if parts[0] != "definitions" {
		return ""
	}
	if parts[len(parts)-1] == "DestinationConfig" {
		return "" // SAM adds OnFailure.Type to the event source mapping's DestinationConfig
	}
	if parts[1] == "AWS::DynamoDB::Table.AttributeDefinition" && parts[len(parts)-1] == "AttributeType" {
		return "" // SimpleTable PrimaryKey.Type takes String/Number/Binary and SAM converts it
	}
	typ, sub, _ := strings.Cut(parts[1], ".")
	switch {
	case sub == "" && len(parts) >= 6 && parts[2] == "properties" && parts[3] == "Properties" && parts[4] == "properties":
		return s.cfnRef(typ, append([]string{"properties"}, parts[5:]...))
	case sub != "" && len(parts) >= 4 && parts[2] == "properties":
		return s.cfnRef(typ, append([]string{"definitions", sub, "properties"}, parts[3:]...))
	}
	return ""
}

// cfnRef returns a reference to the subschema at ptr of a provider schema
// ("" if there is none), stepping through the intrinsic-function wrappers.
func (s *Schemas) cfnRef(typ string, ptr []string) string {
	doc := s.cfnDoc(typ)
	if doc == nil {
		return ""
	}
	var cur any = doc
	var real []string
	for _, p := range ptr {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		if _, wrapped := m["if"]; wrapped {
			if e, ok := m["else"].(map[string]any); ok && m[p] == nil {
				m = e
				real = append(real, "else")
			}
		}
		if cur, ok = m[p]; !ok {
			return ""
		}
		real = append(real, p)
	}
	var b strings.Builder
	for _, p := range real {
		b.WriteString("/")
		b.WriteString(ptrEscape(p))
	}
	return cfnURL(typ) + "#" + b.String()
}

// SAM documents many more pass-through properties than it marks; its
// markdown says "This property is passed directly to the [`X`](...) property
// of an `AWS::A::B` resource" (or "... `AWS::A::B` `Sub` data type").
var passedDirectly = regexp.MustCompile("passed directly to the `?\\[`?([A-Za-z0-9]+)`?\\]\\([^)]*\\)`? property of an? `(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)(?:` `| )?([A-Za-z0-9]+)?`? ?(resource|data type|object)")

func isBareObject(v any) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 1 && m["type"] == "object"
}

func isPassThroughOnly(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	if r, _ := m["$ref"].(string); r == "#/definitions/PassThroughProp" {
		return true
	}
	all, ok := m["allOf"].([]any)
	if !ok || len(all) != 1 {
		return false
	}
	r, _ := asMap(all[0])["$ref"].(string)
	return r == "#/definitions/PassThroughProp"
}

func (s *Schemas) markdownRef(name, md string) string {
	m := passedDirectly.FindStringSubmatch(md)
	if m == nil || m[1] != name || name == "DestinationConfig" { // SAM adds OnFailure.Type
		// a renamed property (Cognito Trigger -> LambdaConfig, ...) is
		// reshaped by SAM, not passed through
		return ""
	}
	if m[3] != "" {
		return s.cfnRef(m[2], []string{"definitions", m[3], "properties", m[1]})
	}
	return s.cfnRef(m[2], []string{"properties", m[1]})
}

// discriminate replaces "anyOf: [$ref A, $ref B, ...]" where every
// alternative is an object with a one-value Type enum by a dispatch on Type.
func (s *Schemas) discriminate(out map[string]any, alts []any) {
	defs, _ := s.samRawDefs()
	var types []any
	var branches []any
	for _, a := range alts {
		am, ok := a.(map[string]any)
		if !ok || len(am) != 1 {
			return
		}
		ref, _ := am["$ref"].(string)
		if !strings.HasPrefix(ref, "#/definitions/") {
			return
		}
		d := defs[strings.TrimPrefix(ref, "#/definitions/")]
		typ := singleEnum(d, "Type")
		if typ == "" || strings.HasPrefix(typ, "AWS::") {
			return
		}
		types = append(types, typ)
		branches = append(branches, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"Type": map[string]any{"const": typ}}, "required": []any{"Type"}},
			"then": map[string]any{"$ref": ref},
		})
	}
	if len(types) < 2 {
		return
	}
	// SAM handles CloudWatchEvent with the EventBridgeRule code (RetryPolicy,
	// DeadLetterConfig, ... work for both), though its schema lists fewer.
	for i, t := range types {
		if t != "CloudWatchEvent" {
			continue
		}
		for j, u := range types {
			if u != "EventBridgeRule" {
				continue
			}
			ref, _ := branches[j].(map[string]any)["then"].(map[string]any)["$ref"].(string)
			ebr := asMap(defs[strings.TrimPrefix(ref, "#/definitions/")])
			props := asMap(asMap(ebr["properties"])["Properties"])
			if props == nil {
				continue
			}
			branches[i].(map[string]any)["then"] = map[string]any{
				"type": "object", "additionalProperties": false, "required": []any{"Type"},
				"properties": map[string]any{"Type": map[string]any{}, "Properties": s.adaptSAM(props)},
			}
		}
	}
	delete(out, "anyOf")
	out["type"] = "object"
	out["required"] = []any{"Type"}
	out["properties"] = map[string]any{"Type": map[string]any{"enum": types}}
	out["allOf"] = branches
}

var samDefsCache map[string]any

func (s *Schemas) samRawDefs() (map[string]any, bool) {
	if samDefsCache != nil {
		return samDefsCache, true
	}
	data, err := fs.ReadFile(s.fsys, "sam.schema.json")
	if err != nil {
		return nil, false
	}
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return nil, false
	}
	samDefsCache, _ = m["definitions"].(map[string]any)
	return samDefsCache, true
}

func singleEnum(d any, prop string) string {
	m, _ := d.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	p, _ := props[prop].(map[string]any)
	if c, ok := p["const"].(string); ok {
		return c
	}
	e, _ := p["enum"].([]any)
	if len(e) == 1 {
		s, _ := e[0].(string)
		return s
	}
	return ""
}

// ---- validating and turning errors into findings

// validate checks value v (found at JSON pointer base in the template) against
// the schema at loc and appends findings.
func (s *Schemas) validate(loc string, v any, base string, tpl *Template, out *[]Finding) error {
	sch, err := s.compile(loc)
	if err != nil {
		return err
	}
	err = sch.Validate(v)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return err
	}
	var leaves []*jsonschema.ValidationError
	collectLeaves(ve, &leaves)
	seen := map[string]bool{}
	for _, l := range leaves {
		f := s.describe(l, base, tpl)
		key := f.Ptr + "|" + f.Msg
		if seen[key] {
			continue
		}
		seen[key] = true
		*out = append(*out, f)
	}
	return nil
}

func collectLeaves(e *jsonschema.ValidationError, out *[]*jsonschema.ValidationError) {
	switch e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
		if len(e.Causes) == 0 { // oneOf matched more than one alternative
			*out = append(*out, e)
			return
		}
		best := pickBranch(e)
		if best == nil {
			// every alternative failed on the value's type: one message
			var want []string
			got := ""
			for _, c := range e.Causes {
				var ls []*jsonschema.ValidationError
				collectLeaves(c, &ls)
				for _, l := range ls {
					if t, ok := l.ErrorKind.(*kind.Type); ok && len(l.InstanceLocation) == len(e.InstanceLocation) {
						want = append(want, t.Want...)
						got = t.Got
					}
				}
			}
			if got != "" {
				*out = append(*out, &jsonschema.ValidationError{SchemaURL: e.SchemaURL, InstanceLocation: e.InstanceLocation,
					ErrorKind: &kind.Type{Got: got, Want: dedupe(want)}})
				return
			}
			*out = append(*out, e)
			return
		}
		collectLeaves(best, out)
		return
	}
	if len(e.Causes) == 0 {
		*out = append(*out, e)
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, out)
	}
}

// pickBranch chooses, among the failed alternatives of an anyOf/oneOf, the one
// the author most probably meant: not one that failed on the value's type
// right away, and then the one whose problems lie deepest.
func pickBranch(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	depth := len(e.InstanceLocation)
	var best *jsonschema.ValidationError
	bestScore := -1
	for _, c := range e.Causes {
		var ls []*jsonschema.ValidationError
		collectLeaves(c, &ls)
		shallowType := false
		maxDepth, n := 0, len(ls)
		for _, l := range ls {
			if _, ok := l.ErrorKind.(*kind.Type); ok && len(l.InstanceLocation) == depth {
				shallowType = true
			}
			if d := len(l.InstanceLocation); d > maxDepth {
				maxDepth = d
			}
		}
		if shallowType {
			continue
		}
		score := maxDepth*1000 - n
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	return best
}

func (s *Schemas) describe(e *jsonschema.ValidationError, base string, tpl *Template) Finding {
	ptr := base + joinPtr(e.InstanceLocation...)
	f := Finding{Sev: sevError, Ptr: ptr, Pos: tpl.pos(ptr)}
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		allowed := s.allowedProps(e.SchemaURL)
		var parts []string
		for _, p := range k.Properties {
			msg := fmt.Sprintf("unknown property %q", p)
			if sug := suggest(p, allowed); sug != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sug)
			}
			parts = append(parts, msg)
			if pos, ok := tpl.KeyPos[ptr+"/"+ptrEscape(p)]; ok {
				f.Pos = pos
			}
		}
		f.Msg = strings.Join(parts, "; ")
		if len(allowed) > 0 && len(allowed) <= 40 {
			f.Msg += "; allowed: " + strings.Join(allowed, ", ")
		}
	case *kind.Enum:
		var want []string
		for _, w := range k.Want {
			want = append(want, display(w))
		}
		f.Msg = fmt.Sprintf("%s is not an allowed value", display(k.Got))
		if gs, ok := k.Got.(string); ok {
			var ws []string
			for _, w := range k.Want {
				if x, ok := w.(string); ok {
					ws = append(ws, x)
				}
			}
			if sug := suggest(gs, ws); sug != "" {
				f.Msg += fmt.Sprintf(" (did you mean %q?)", sug)
			}
		}
		if len(want) > 60 {
			want = append(want[:60], fmt.Sprintf("... (%d more)", len(want)-60))
		}
		f.Msg += "; allowed: " + strings.Join(want, ", ")
	case *kind.Required:
		f.Msg = fmt.Sprintf("missing required property %s", quoteAll(k.Missing))
	case *kind.Pattern:
		switch k.Want {
		case intPattern:
			f.Msg = fmt.Sprintf("expected an integer, got %q", k.Got)
		case numPattern:
			f.Msg = fmt.Sprintf("expected a number, got %q", k.Got)
		case boolPattern:
			f.Msg = fmt.Sprintf("expected a boolean, got %q", k.Got)
		default:
			f.Msg = fmt.Sprintf("%q does not match the pattern %s", k.Got, k.Want)
		}
	case *kind.Type:
		want := k.Want
		sort.Strings(want)
		f.Msg = fmt.Sprintf("expected %s, got %s", strings.Join(simplifyTypes(want), " or "), k.Got)
	case *kind.FalseSchema:
		f.Msg = "this property is not allowed here"
	case *kind.Minimum:
		f.Msg = fmt.Sprintf("%s is less than the minimum %s", k.Got.RatString(), k.Want.RatString())
	case *kind.Maximum:
		f.Msg = fmt.Sprintf("%s is greater than the maximum %s", k.Got.RatString(), k.Want.RatString())
	case *kind.ExclusiveMinimum:
		f.Msg = fmt.Sprintf("%s must be greater than %s", k.Got.RatString(), k.Want.RatString())
	case *kind.ExclusiveMaximum:
		f.Msg = fmt.Sprintf("%s must be less than %s", k.Got.RatString(), k.Want.RatString())
	case *kind.MinLength:
		f.Msg = fmt.Sprintf("%d characters long; at least %d needed", k.Got, k.Want)
	case *kind.MaxLength:
		f.Msg = fmt.Sprintf("%d characters long; at most %d allowed", k.Got, k.Want)
	case *kind.MinItems:
		f.Msg = fmt.Sprintf("%d item(s); at least %d needed", k.Got, k.Want)
	case *kind.MaxItems:
		f.Msg = fmt.Sprintf("%d items; at most %d allowed", k.Got, k.Want)
	default:
		f.Msg = e.ErrorKind.LocalizedString(printer)
	}
	return f
}

func dedupe(l []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range l {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func simplifyTypes(ts []string) []string {
	has := map[string]bool{}
	for _, t := range ts {
		has[t] = true
	}
	var out []string
	for _, t := range ts {
		if t == "integer" && has["number"] {
			continue
		}
		if has["string"] && (t == "number" || t == "boolean" || t == "integer") && !has["object"] && !has["array"] {
			continue // a relaxed scalar: just say "string"
		}
		out = append(out, t)
	}
	return out
}

// allowedProps lists the property names a schema object accepts.
func (s *Schemas) allowedProps(schemaURL string) []string {
	url, frag, _ := strings.Cut(schemaURL, "#")
	doc, err := s.load(url)
	if err != nil {
		return nil
	}
	cur := doc
	if frag != "" {
		for _, p := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
			p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
			switch c := cur.(type) {
			case map[string]any:
				cur = c[p]
			case []any:
				i := 0
				fmt.Sscanf(p, "%d", &i)
				if i < len(c) {
					cur = c[i]
				} else {
					return nil
				}
			default:
				return nil
			}
		}
	}
	m, _ := cur.(map[string]any)
	if e, ok := m["else"].(map[string]any); ok && m["if"] != nil {
		m = e
	}
	props, _ := m["properties"].(map[string]any)
	var out []string
	for k := range props {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func display(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func quoteAll(l []string) string {
	q := make([]string, len(l))
	for i, x := range l {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

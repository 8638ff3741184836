package samvalidate

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const samTransform = "AWS::Serverless-2016-10-31"

var pseudoParams = map[string]bool{
	"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true, "AWS::Partition": true,
	"AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true, "AWS::URLSuffix": true,
}

var topLevelKeys = []string{"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings",
	"Conditions", "Transform", "Resources", "Outputs", "Globals"}

var resourceAttrs = []string{"Type", "Properties", "DependsOn", "Condition", "Metadata", "DeletionPolicy",
	"UpdateReplacePolicy", "UpdatePolicy", "CreationPolicy", "Connectors", "IgnoreGlobals", "Version"}

var alnum = regexp.MustCompile(`^[a-zA-Z0-9]+$`)

// SAM resource type -> the CloudFormation type it becomes (same logical ID),
// which decides what Fn::GetAtt may ask of it.
var samToCFN = map[string]string{
	"AWS::Serverless::Function":         "AWS::Lambda::Function",
	"AWS::Serverless::HttpApi":          "AWS::ApiGatewayV2::Api",
	"AWS::Serverless::WebSocketApi":     "AWS::ApiGatewayV2::Api",
	"AWS::Serverless::Api":              "AWS::ApiGateway::RestApi",
	"AWS::Serverless::SimpleTable":      "AWS::DynamoDB::Table",
	"AWS::Serverless::StateMachine":     "AWS::StepFunctions::StateMachine",
	"AWS::Serverless::LayerVersion":     "AWS::Lambda::LayerVersion",
	"AWS::Serverless::Application":      "AWS::CloudFormation::Stack",
	"AWS::Serverless::GraphQLApi":       "AWS::AppSync::GraphQLApi",
	"AWS::Serverless::CapacityProvider": "AWS::Lambda::CapacityProvider",
}

// Ref MyThing.Prop forms SAM resolves itself.
var samReferable = map[string][]string{
	"AWS::Serverless::Function":     {"Alias", "Version", "DestinationTopic", "DestinationQueue"},
	"AWS::Serverless::Api":          {"Stage", "Deployment", "DomainName", "DomainNameV2", "UsagePlan", "UsagePlanKey", "ApiKey"},
	"AWS::Serverless::HttpApi":      {"Stage", "DomainName"},
	"AWS::Serverless::WebSocketApi": {"Stage", "DomainName"},
}

// Runtimes Lambda has deprecated (no new functions, or soon none).
var deprecatedRuntimes = map[string]bool{
	"nodejs": true, "nodejs4.3": true, "nodejs4.3-edge": true, "nodejs6.10": true, "nodejs8.10": true,
	"nodejs10.x": true, "nodejs12.x": true, "nodejs14.x": true, "nodejs16.x": true, "nodejs18.x": true,
	"python2.7": true, "python3.6": true, "python3.7": true, "python3.8": true,
	"dotnetcore1.0": true, "dotnetcore2.0": true, "dotnetcore2.1": true, "dotnetcore3.1": true, "dotnet6": true,
	"java8": true, "go1.x": true, "ruby2.5": true, "ruby2.7": true, "provided": true,
}

// sam build BuildMethod values that are not runtime names.
var extraBuildMethods = map[string]bool{"makefile": true, "esbuild": true, "rust-cargolambda": true, "go1.x": true, "dotnet7": true, "provided": true}

var httpMethods = map[string]bool{"get": true, "post": true, "put": true, "delete": true, "patch": true, "head": true,
	"options": true, "any": true, "x-amazon-apigateway-any-method": true}

type genRes struct {
	typ   string // CloudFormation type if known ("" = unknown)
	exact bool
}

type Checker struct {
	s          *Schemas
	t          *Template
	out        []Finding
	isSAM      bool
	params     map[string]any
	resources  map[string]map[string]any
	resType    map[string]string
	conditions map[string]any
	mappings   map[string]any
	globals    map[string]any
	generated  map[string]genRes // SAM-generated logical IDs one may refer to
	samPrefix  []string          // logical IDs under which SAM generates more

	routeOwners map[string]string // "api METHOD path" -> function.event
}

func newChecker(s *Schemas, t *Template) *Checker {
	return &Checker{s: s, t: t, params: map[string]any{}, resources: map[string]map[string]any{},
		resType: map[string]string{}, conditions: map[string]any{}, mappings: map[string]any{},
		generated: map[string]genRes{}}
}

func (c *Checker) add(sev severity, ptr, format string, args ...any) {
	c.out = append(c.out, Finding{Sev: sev, Ptr: ptr, Pos: c.t.pos(ptr), Msg: fmt.Sprintf(format, args...)})
}
func (c *Checker) errorf(ptr, format string, args ...any) { c.add(sevError, ptr, format, args...) }
func (c *Checker) warnf(ptr, format string, args ...any)  { c.add(sevWarning, ptr, format, args...) }

// keyErr reports a finding at the position of a mapping key.
func (c *Checker) keyErr(sev severity, ptr, format string, args ...any) {
	pos, ok := c.t.KeyPos[ptr]
	if !ok {
		pos = c.t.pos(ptr)
	}
	c.out = append(c.out, Finding{Sev: sev, Ptr: ptr, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

// intrinsic returns the function name if v is an intrinsic function call.
func intrinsic(v any) (string, any, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", nil, false
	}
	for k, a := range m {
		if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return k, a, true
		}
	}
	return "", nil, false
}

func literal(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

func (c *Checker) run() {
	root := c.t.Root
	for _, k := range keys(root) {
		found := false
		for _, a := range topLevelKeys {
			if k == a {
				found = true
			}
		}
		if !found {
			msg := fmt.Sprintf("unknown top-level section %q", k)
			if s := suggest(k, topLevelKeys); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.keyErr(sevError, "/"+ptrEscape(k), "%s", msg)
		}
	}
	if v, ok := root["AWSTemplateFormatVersion"]; ok {
		if s, _ := literal(v); s != "2010-09-09" {
			c.errorf("/AWSTemplateFormatVersion", "AWSTemplateFormatVersion must be \"2010-09-09\", got %s", display(v))
		}
	}
	if v, ok := root["Description"]; ok {
		if s, ok := v.(string); !ok {
			c.errorf("/Description", "Description must be a string")
		} else if len(s) > 1024 {
			c.errorf("/Description", "Description is %d bytes long; CloudFormation allows 1024", len(s))
		}
	}
	c.checkTransform(root["Transform"])

	c.params = asMap(root["Parameters"])
	c.conditions = asMap(root["Conditions"])
	c.mappings = asMap(root["Mappings"])
	c.globals = asMap(root["Globals"])
	for _, sec := range []string{"Parameters", "Conditions", "Mappings", "Outputs", "Resources", "Globals", "Rules"} {
		if v, ok := root[sec]; ok {
			if _, isMap := v.(map[string]any); !isMap {
				c.errorf("/"+sec, "%s must be a mapping, got %s", sec, typeName(v))
			}
		}
	}

	res, ok := root["Resources"].(map[string]any)
	if !ok {
		if _, present := root["Resources"]; !present {
			c.errorf("", "the template has no Resources section (CloudFormation requires one)")
		}
		return
	}
	if len(res) == 0 {
		c.errorf("/Resources", "Resources is empty (CloudFormation requires at least one resource)")
	}
	if len(res) > 500 {
		c.errorf("/Resources", "%d resources; CloudFormation allows 500 per stack", len(res))
	}
	for id, r := range res {
		rm, ok := r.(map[string]any)
		ptr := joinPtr("Resources", id)
		if !ok {
			c.errorf(ptr, "a resource must be a mapping with a Type, got %s", typeName(r))
			continue
		}
		c.resources[id] = rm
		if t, ok := rm["Type"].(string); ok {
			c.resType[id] = t
		}
	}
	c.collectGenerated()

	c.checkParameters()
	c.checkMappings()
	c.checkConditions()
	if c.globals != nil {
		c.checkGlobals()
	}
	for _, id := range keys(res) {
		if rm := c.resources[id]; rm != nil {
			c.checkResource(id, rm)
		}
	}
	c.checkOutputs(asMap(root["Outputs"]))

	// intrinsic functions everywhere they may appear
	c.walk(root["Resources"], "/Resources", "resources")
	c.walk(root["Outputs"], "/Outputs", "outputs")
	c.walk(root["Conditions"], "/Conditions", "conditions")
	c.walk(root["Globals"], "/Globals", "globals")
	c.walk(root["Rules"], "/Rules", "rules")
}

func (c *Checker) checkTransform(v any) {
	var names []string
	switch x := v.(type) {
	case nil:
	case string:
		names = append(names, x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				names = append(names, s)
			} else if m := asMap(e); m != nil {
				if n, ok := m["Name"].(string); ok {
					names = append(names, n)
				}
			}
		}
	case map[string]any:
		if n, ok := x["Name"].(string); ok {
			names = append(names, n)
		}
	}
	for _, n := range names {
		if n == samTransform {
			c.isSAM = true
		} else if strings.HasPrefix(n, "AWS::Serverless") {
			c.errorf("/Transform", "unknown transform %q; the SAM transform is %q", n, samTransform)
		}
	}
	if !c.isSAM {
		if _, ok := c.t.Root["Globals"]; ok {
			c.errorf("/Globals", "Globals needs \"Transform: %s\"", samTransform)
		}
	}
}

// ---- SAM-generated logical IDs

func (c *Checker) collectGenerated() {
	gen := func(id, typ string) {
		if _, real := c.resources[id]; !real {
			c.generated[id] = genRes{typ: typ, exact: true}
		}
	}
	for id, r := range c.resources {
		typ := c.resType[id]
		if !strings.HasPrefix(typ, "AWS::Serverless::") {
			continue
		}
		if typ == "AWS::Serverless::Api" || typ == "AWS::Serverless::Function" {
			// Auth.UsagePlan with CreateUsagePlan SHARED
			gen("ServerlessUsagePlan", "AWS::ApiGateway::UsagePlan")
			gen("ServerlessApiKey", "AWS::ApiGateway::ApiKey")
			gen("ServerlessUsagePlanKey", "AWS::ApiGateway::UsagePlanKey")
		}
		c.samPrefix = append(c.samPrefix, id)
		props := asMap(r["Properties"])
		switch typ {
		case "AWS::Serverless::Function":
			if _, ok := props["Role"]; !ok {
				gen(id+"Role", "AWS::IAM::Role")
			}
			if a, ok := c.fnProp(props, "AutoPublishAlias").(string); ok {
				gen(id+"Alias"+a, "AWS::Lambda::Alias")
			}
			if c.fnProp(props, "FunctionUrlConfig") != nil {
				gen(id+"Url", "AWS::Lambda::Url")
			}
			if c.fnProp(props, "DeploymentPreference") != nil {
				gen(id+"DeploymentGroup", "AWS::CodeDeploy::DeploymentGroup")
				gen("ServerlessDeploymentApplication", "AWS::CodeDeploy::Application")
				gen("CodeDeployServiceRole", "AWS::IAM::Role")
			}
			for en, ev := range asMap(props["Events"]) {
				em := asMap(ev)
				ep := asMap(em["Properties"])
				if dlq := asMap(ep["DeadLetterConfig"]); dlq != nil {
					if q, ok := dlq["QueueLogicalId"].(string); ok {
						gen(q, "AWS::SQS::Queue")
					} else if dlq["Type"] == "SQS" {
						gen(id+en+"Queue", "AWS::SQS::Queue")
					}
				}
				switch em["Type"] {
				case "Api":
					if _, ok := ep["RestApiId"]; !ok {
						gen("ServerlessRestApi", "AWS::ApiGateway::RestApi")
						c.samPrefix = append(c.samPrefix, "ServerlessRestApi")
					}
				case "HttpApi":
					if _, ok := ep["ApiId"]; !ok {
						gen("ServerlessHttpApi", "AWS::ApiGatewayV2::Api")
						gen("ServerlessHttpApiApiGatewayDefaultStage", "AWS::ApiGatewayV2::Stage")
						c.samPrefix = append(c.samPrefix, "ServerlessHttpApi")
					}
				case "Schedule", "CloudWatchEvent", "EventBridgeRule":
					gen(id+en, "AWS::Events::Rule")
				case "ScheduleV2":
					gen(id+en, "AWS::Scheduler::Schedule")
				case "SQS", "Kinesis", "DynamoDB", "MSK", "MQ", "SelfManagedKafka", "DocumentDB":
					gen(id+en, "AWS::Lambda::EventSourceMapping")
				case "SNS":
					gen(id+en, "AWS::SNS::Subscription")
				case "IoTRule":
					gen(id+en, "AWS::IoT::TopicRule")
				}
			}
		case "AWS::Serverless::StateMachine":
			if _, ok := props["Role"]; !ok {
				gen(id+"Role", "AWS::IAM::Role")
			}
			for en, ev := range asMap(props["Events"]) {
				dlq := asMap(asMap(asMap(ev)["Properties"])["DeadLetterConfig"])
				if q, ok := dlq["QueueLogicalId"].(string); ok {
					gen(q, "AWS::SQS::Queue")
				} else if dlq["Type"] == "SQS" {
					gen(id+en+"Queue", "AWS::SQS::Queue")
				}
			}
		}
	}
	sort.Slice(c.samPrefix, func(i, j int) bool { return len(c.samPrefix[i]) > len(c.samPrefix[j]) })
}

// fnProp reads a Function property, falling back to Globals.Function.
func (c *Checker) fnProp(props map[string]any, name string) any {
	if v, ok := props[name]; ok {
		return v
	}
	return asMap(c.globals["Function"])[name]
}

// target describes what a logical ID refers to.
type target struct {
	kind  string // "param", "resource", "generated", "maybe", ""
	typ   string // CloudFormation type (SAM types mapped) for resources
	isSAM string // original SAM type
}

func (c *Checker) lookup(id string) target {
	if _, ok := c.params[id]; ok {
		return target{kind: "param"}
	}
	if t, ok := c.resType[id]; ok {
		if cf, ok := samToCFN[t]; ok {
			return target{kind: "resource", typ: cf, isSAM: t}
		}
		return target{kind: "resource", typ: t}
	}
	if _, ok := c.resources[id]; ok {
		return target{kind: "resource"}
	}
	if g, ok := c.generated[id]; ok {
		return target{kind: "generated", typ: g.typ}
	}
	for _, p := range c.samPrefix {
		if strings.HasPrefix(id, p) && id != p && c.generatedSuffix(p, id[len(p):]) {
			return target{kind: "maybe"}
		}
	}
	return target{}
}

// generatedSuffix tells whether id+suffix looks like a logical ID the SAM
// transform generates for resource id (FunctionRole, FunctionAliaslive,
// FunctionVersion1a2b3c, FunctionMyEventPermission, ApiProdStage, ...).
func (c *Checker) generatedSuffix(id, suffix string) bool {
	if suffix == "" || suffix[0] < 'A' || suffix[0] > 'Z' && (suffix[0] < '0' || suffix[0] > '9') {
		return false
	}
	typ := c.resType[id]
	if typ != "AWS::Serverless::Function" && typ != "AWS::Serverless::StateMachine" {
		return true // APIs generate stages, deployments, domains, mappings, ...
	}
	for _, w := range []string{"Role", "Alias", "Version", "Url", "Permission", "DeploymentGroup", "EventInvokeConfig",
		"EventSourceMapping", "Queue", "Topic", "Policy"} {
		if strings.HasPrefix(suffix, w) {
			return true
		}
	}
	for en := range asMap(asMap(c.resources[id]["Properties"])["Events"]) {
		if strings.HasPrefix(suffix, en) {
			return true
		}
	}
	return false
}

func (c *Checker) allIDs() []string {
	var out []string
	for k := range c.params {
		out = append(out, k)
	}
	for k := range c.resources {
		out = append(out, k)
	}
	for k := range c.generated {
		out = append(out, k)
	}
	return out
}

func (c *Checker) unknownID(ptr, what, id string) {
	msg := fmt.Sprintf("%s refers to %q, which is neither a parameter nor a resource of this template", what, id)
	if s := suggest(id, c.allIDs()); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	c.errorf(ptr, "%s", msg)
}

func (c *Checker) maybeGenerated(ptr, what, id string) {
	c.warnf(ptr, "%s refers to %q, which is not in the template; it may be a resource the SAM transform generates, which cannot be checked offline", what, id)
}

// ---- Parameters, Mappings, Conditions, Outputs

var awsParamTypes = map[string]bool{
	"AWS::EC2::AvailabilityZone::Name": true, "AWS::EC2::Image::Id": true, "AWS::EC2::Instance::Id": true,
	"AWS::EC2::KeyPair::KeyName": true, "AWS::EC2::SecurityGroup::GroupName": true, "AWS::EC2::SecurityGroup::Id": true,
	"AWS::EC2::Subnet::Id": true, "AWS::EC2::Volume::Id": true, "AWS::EC2::VPC::Id": true, "AWS::Route53::HostedZone::Id": true,
}

func validParamType(t string) bool {
	switch t {
	case "String", "Number", "List<Number>", "CommaDelimitedList", "AWS::SSM::Parameter::Name":
		return true
	}
	if awsParamTypes[t] {
		return true
	}
	if strings.HasPrefix(t, "List<") && strings.HasSuffix(t, ">") && awsParamTypes[t[5:len(t)-1]] {
		return true
	}
	if strings.HasPrefix(t, "AWS::SSM::Parameter::Value<") && strings.HasSuffix(t, ">") {
		inner := t[len("AWS::SSM::Parameter::Value<") : len(t)-1]
		if inner == "String" || inner == "List<String>" || inner == "CommaDelimitedList" || awsParamTypes[inner] {
			return true
		}
		if strings.HasPrefix(inner, "List<") && strings.HasSuffix(inner, ">") && awsParamTypes[inner[5:len(inner)-1]] {
			return true
		}
	}
	return false
}

var paramKeys = []string{"Type", "Default", "Description", "AllowedValues", "AllowedPattern", "ConstraintDescription",
	"MaxLength", "MinLength", "MaxValue", "MinValue", "NoEcho"}

func (c *Checker) checkParameters() {
	if len(c.params) > 200 {
		c.errorf("/Parameters", "%d parameters; CloudFormation allows 200", len(c.params))
	}
	for _, name := range keys(c.params) {
		ptr := joinPtr("Parameters", name)
		if !alnum.MatchString(name) {
			c.keyErr(sevError, ptr, "parameter names must be alphanumeric")
		}
		if _, clash := c.resources[name]; clash {
			c.keyErr(sevError, ptr, "%q is both a parameter and a resource; logical IDs must be unique", name)
		}
		p, ok := c.params[name].(map[string]any)
		if !ok {
			c.errorf(ptr, "a parameter must be a mapping with a Type")
			continue
		}
		for _, k := range keys(p) {
			if !contains(paramKeys, k) {
				msg := fmt.Sprintf("unknown parameter attribute %q", k)
				if s := suggest(k, paramKeys); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.keyErr(sevError, ptr+"/"+ptrEscape(k), "%s", msg)
			}
		}
		typ, ok := p["Type"].(string)
		if !ok {
			c.errorf(ptr, "missing required attribute \"Type\"")
			continue
		}
		if !validParamType(typ) {
			msg := fmt.Sprintf("%q is not a parameter type", typ)
			if s := suggest(typ, []string{"String", "Number", "List<Number>", "CommaDelimitedList", "AWS::SSM::Parameter::Name", "AWS::SSM::Parameter::Value<String>"}); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.errorf(ptr+"/Type", "%s", msg)
		}
		def, hasDef := p["Default"]
		if !hasDef {
			continue
		}
		dptr := ptr + "/Default"
		ds, isLit := literal(def)
		if !isLit {
			if _, isList := def.([]any); !isList || typ != "CommaDelimitedList" && !strings.HasPrefix(typ, "List<") {
				c.errorf(dptr, "Default must be a string or number, got %s", typeName(def))
			}
			continue
		}
		values := []string{ds}
		if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
			values = strings.Split(ds, ",")
			for i := range values {
				values[i] = strings.TrimSpace(values[i])
			}
		}
		if av, ok := p["AllowedValues"].([]any); ok {
			var allowed []string
			for _, a := range av {
				if s, ok := literal(a); ok {
					allowed = append(allowed, s)
				}
			}
			for _, v := range values {
				if !contains(allowed, v) {
					c.errorf(dptr, "Default %q is not one of AllowedValues [%s]", v, strings.Join(allowed, ", "))
				}
			}
		}
		if pat, ok := p["AllowedPattern"].(string); ok {
			if re, err := regexp.Compile("^(?:" + pat + ")$"); err == nil {
				for _, v := range values {
					if !re.MatchString(v) {
						c.errorf(dptr, "Default %q does not match AllowedPattern %s", v, pat)
					}
				}
			}
		}
		if typ == "Number" || typ == "List<Number>" {
			for _, v := range values {
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					c.errorf(dptr, "Default %q is not a number", v)
				}
			}
		}
		for _, lim := range []struct {
			key string
			bad func(v string, n float64) bool
		}{
			{"MinLength", func(v string, n float64) bool { return float64(len(v)) < n }},
			{"MaxLength", func(v string, n float64) bool { return float64(len(v)) > n }},
			{"MinValue", func(v string, n float64) bool { f, err := strconv.ParseFloat(v, 64); return err == nil && f < n }},
			{"MaxValue", func(v string, n float64) bool { f, err := strconv.ParseFloat(v, 64); return err == nil && f > n }},
		} {
			if lv, ok := literal(p[lim.key]); ok {
				if n, err := strconv.ParseFloat(lv, 64); err == nil {
					for _, v := range values {
						if lim.bad(v, n) {
							c.errorf(dptr, "Default %q violates %s %s", v, lim.key, lv)
						}
					}
				}
			}
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (c *Checker) checkMappings() {
	for _, name := range keys(c.mappings) {
		ptr := joinPtr("Mappings", name)
		if !alnum.MatchString(name) {
			c.keyErr(sevError, ptr, "mapping names must be alphanumeric")
		}
		m, ok := c.mappings[name].(map[string]any)
		if !ok {
			c.errorf(ptr, "a mapping must be a map of keys to maps of values")
			continue
		}
		for k, v := range m {
			if _, ok := v.(map[string]any); !ok {
				c.errorf(ptr+"/"+ptrEscape(k), "each top-level key of a mapping must hold a map of second-level keys to values")
			}
		}
	}
}

var conditionFns = []string{"Fn::And", "Fn::Equals", "Fn::Not", "Fn::Or", "Condition"}

func (c *Checker) checkConditions() {
	for _, name := range keys(c.conditions) {
		ptr := joinPtr("Conditions", name)
		fn, _, ok := intrinsic(c.conditions[name])
		if !ok || !contains(conditionFns, fn) {
			c.errorf(ptr, "a condition must be one of Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition")
		}
	}
}

func (c *Checker) checkOutputs(outs map[string]any) {
	if outs == nil {
		return
	}
	if len(outs) > 200 {
		c.errorf("/Outputs", "%d outputs; CloudFormation allows 200", len(outs))
	}
	exports := map[string]string{}
	for _, name := range keys(outs) {
		ptr := joinPtr("Outputs", name)
		if !alnum.MatchString(name) {
			c.keyErr(sevError, ptr, "output names must be alphanumeric")
		}
		o, ok := outs[name].(map[string]any)
		if !ok {
			c.errorf(ptr, "an output must be a mapping with a Value")
			continue
		}
		allowed := []string{"Description", "Value", "Export", "Condition"}
		for _, k := range keys(o) {
			if !contains(allowed, k) {
				msg := fmt.Sprintf("unknown output attribute %q", k)
				if s := suggest(k, allowed); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.keyErr(sevError, ptr+"/"+ptrEscape(k), "%s", msg)
			}
		}
		if _, ok := o["Value"]; !ok {
			c.errorf(ptr, "missing required attribute \"Value\"")
		} else if o["Value"] == nil {
			c.errorf(ptr+"/Value", "Value is empty")
		}
		if d, ok := o["Description"]; ok {
			if _, isStr := d.(string); !isStr {
				c.errorf(ptr+"/Description", "Description must be a string")
			}
		}
		if cond, ok := o["Condition"]; ok {
			c.checkConditionName(ptr+"/Condition", cond)
		}
		if e, ok := o["Export"]; ok {
			em, ok := e.(map[string]any)
			if !ok || em["Name"] == nil || len(em) != 1 {
				c.errorf(ptr+"/Export", "Export must be a mapping with exactly one key, Name")
			} else if n, ok := em["Name"].(string); ok {
				if prev, dup := exports[n]; dup {
					c.errorf(ptr+"/Export/Name", "export name %q is also used by output %s", n, prev)
				}
				exports[n] = name
			}
		}
	}
}

func (c *Checker) checkConditionName(ptr string, v any) {
	name, ok := v.(string)
	if !ok {
		c.errorf(ptr, "a condition name must be a string")
		return
	}
	if _, ok := c.conditions[name]; !ok {
		msg := fmt.Sprintf("condition %q is not defined in Conditions", name)
		if s := suggest(name, keys(c.conditions)); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		c.errorf(ptr, "%s", msg)
	}
}

// ---- Globals and resources

func (c *Checker) checkGlobals() {
	if !c.isSAM {
		return
	}
	c.checkHttpCors("/Globals/HttpApi/CorsConfiguration", asMap(c.globals["HttpApi"])["CorsConfiguration"])
	loc := samURL + "#/definitions/__main____Globals"
	if err := c.s.validate(loc, c.globals, "/Globals", c.t, &c.out); err != nil {
		c.errorf("/Globals", "internal: cannot check Globals: %v", err)
	}
}

func (c *Checker) allTypes() []string {
	out := make([]string, 0, len(c.s.raw)+len(c.s.samRes))
	for t := range c.s.raw {
		out = append(out, t)
	}
	for t := range c.s.samRes {
		out = append(out, t)
	}
	return out
}

func (c *Checker) checkResource(id string, r map[string]any) {
	ptr := joinPtr("Resources", id)
	if !alnum.MatchString(id) {
		c.keyErr(sevError, ptr, "logical IDs must be alphanumeric (A-Za-z0-9)")
	}
	typ, ok := r["Type"].(string)
	if !ok {
		if _, has := r["Type"]; has {
			c.errorf(ptr+"/Type", "Type must be a string")
		} else {
			c.errorf(ptr, "missing required attribute \"Type\"")
		}
		return
	}
	for _, k := range keys(r) {
		if !contains(resourceAttrs, k) {
			msg := fmt.Sprintf("unknown resource attribute %q", k)
			if s := suggest(k, resourceAttrs); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.keyErr(sevError, ptr+"/"+ptrEscape(k), "%s", msg)
		}
	}
	for _, pol := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if v, ok := r[pol]; ok {
			if _, _, isFn := intrinsic(v); !isFn {
				if s, _ := v.(string); !contains([]string{"Delete", "Retain", "RetainExceptOnCreate", "Snapshot"}, s) {
					c.errorf(ptr+"/"+pol, "%s must be Delete, Retain, RetainExceptOnCreate or Snapshot, got %s", pol, display(v))
				}
			}
		}
	}
	if cond, ok := r["Condition"]; ok {
		c.checkConditionName(ptr+"/Condition", cond)
	}
	if dep, ok := r["DependsOn"]; ok {
		var deps []any
		switch d := dep.(type) {
		case string:
			deps = []any{d}
		case []any:
			deps = d
		default:
			c.errorf(ptr+"/DependsOn", "DependsOn must be a logical ID or a list of them")
		}
		for i, d := range deps {
			dp := ptr + "/DependsOn"
			if _, isList := dep.([]any); isList {
				dp += "/" + strconv.Itoa(i)
			}
			ds, ok := d.(string)
			if !ok {
				c.errorf(dp, "DependsOn entries must be logical IDs (strings)")
				continue
			}
			if ds == id {
				c.errorf(dp, "a resource cannot depend on itself")
				continue
			}
			switch tg := c.lookup(ds); tg.kind {
			case "resource", "generated":
			case "maybe":
				c.maybeGenerated(dp, "DependsOn", ds)
			case "param":
				c.errorf(dp, "DependsOn names %q, which is a parameter, not a resource", ds)
			default:
				msg := fmt.Sprintf("DependsOn names %q, which is not a resource of this template", ds)
				if s := suggest(ds, keys(asMap(c.t.Root["Resources"]))); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.errorf(dp, "%s", msg)
			}
		}
	}

	switch {
	case strings.HasPrefix(typ, "AWS::Serverless::"):
		def, ok := c.s.samRes[typ]
		if !ok {
			msg := fmt.Sprintf("unknown SAM resource type %q", typ)
			if s := suggest(typ, c.allTypes()); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.errorf(ptr+"/Type", "%s", msg)
			return
		}
		if !c.isSAM {
			c.errorf(ptr+"/Type", "%s needs \"Transform: %s\" at the top of the template", typ, samTransform)
		}
		if err := c.s.validate(samURL+"#/definitions/"+def, r, ptr, c.t, &c.out); err != nil {
			c.errorf(ptr, "internal: cannot check %s: %v", typ, err)
		}
		c.checkSAMResource(id, typ, r)
	case strings.HasPrefix(typ, "Custom::") || typ == "AWS::CloudFormation::CustomResource":
		if props := asMap(r["Properties"]); props == nil || props["ServiceToken"] == nil {
			c.errorf(ptr, "a custom resource needs Properties.ServiceToken")
		}
	case c.s.hasCFN(typ):
		props, has := r["Properties"]
		if !has {
			props = map[string]any{}
		}
		if _, _, isFn := intrinsic(props); isFn {
			return
		}
		if _, ok := props.(map[string]any); !ok {
			c.errorf(ptr+"/Properties", "Properties must be a mapping, got %s", typeName(props))
			return
		}
		if err := c.s.validate(cfnURL(typ), props, ptr+"/Properties", c.t, &c.out); err != nil {
			c.errorf(ptr, "internal: cannot check %s: %v", typ, err)
		}
		c.checkReadOnly(typ, asMap(props), ptr+"/Properties")
		if typ == "AWS::DynamoDB::Table" {
			c.checkDynamoKeys(asMap(props), ptr+"/Properties")
		}
	case strings.HasPrefix(typ, "AWS::") || strings.HasPrefix(typ, "Alexa::"):
		msg := fmt.Sprintf("unknown resource type %q", typ)
		if s := suggest(typ, c.allTypes()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else {
			// The embedded data holds only the types this project uses; a new one is
			// added from the full schema set (schemas/README.md), not silently accepted.
			msg += " (not in the schema data: add its provider schema, see tools/samvalidate/schemas/README.md)"
		}
		c.errorf(ptr+"/Type", "%s", msg)
	default:
		c.warnf(ptr+"/Type", "resource type %q is not a public AWS type (a registry extension or module?); its properties are not checked", typ)
	}
}

func (c *Checker) checkReadOnly(typ string, props map[string]any, ptr string) {
	raw := c.s.rawCFN(typ)
	ro, _ := raw["readOnlyProperties"].([]any)
	for _, x := range ro {
		p, _ := x.(string)
		name := strings.TrimPrefix(p, "/properties/")
		if strings.Contains(name, "/") {
			continue
		}
		if _, set := props[name]; set {
			c.keyErr(sevError, ptr+"/"+ptrEscape(name), "%s is a read-only attribute of %s (use !GetAtt to read it); it cannot be set", name, typ)
		}
	}
}

func (c *Checker) checkDynamoKeys(props map[string]any, ptr string) {
	defs, ok := props["AttributeDefinitions"].([]any)
	if !ok {
		return
	}
	defined := map[string]bool{}
	for _, d := range defs {
		n, ok := asMap(d)["AttributeName"].(string)
		if !ok {
			return // intrinsics: cannot tell
		}
		defined[n] = true
	}
	used := map[string]bool{}
	keySchemas := []struct {
		v   any
		ptr string
	}{{props["KeySchema"], ptr + "/KeySchema"}}
	for _, ix := range []string{"GlobalSecondaryIndexes", "LocalSecondaryIndexes"} {
		if l, ok := props[ix].([]any); ok {
			for i, e := range l {
				keySchemas = append(keySchemas, struct {
					v   any
					ptr string
				}{asMap(e)["KeySchema"], fmt.Sprintf("%s/%s/%d/KeySchema", ptr, ix, i)})
			}
		}
	}
	for _, ks := range keySchemas {
		l, ok := ks.v.([]any)
		if !ok {
			if ks.v != nil {
				return
			}
			continue
		}
		for i, k := range l {
			n, ok := asMap(k)["AttributeName"].(string)
			if !ok {
				return
			}
			used[n] = true
			if !defined[n] {
				c.errorf(fmt.Sprintf("%s/%d/AttributeName", ks.ptr, i), "key attribute %q is not declared in AttributeDefinitions", n)
			}
		}
	}
	for i, d := range defs {
		n, _ := asMap(d)["AttributeName"].(string)
		if !used[n] {
			c.errorf(fmt.Sprintf("%s/AttributeDefinitions/%d", ptr, i), "attribute %q is declared in AttributeDefinitions but used by no key schema (CloudFormation rejects that)", n)
		}
	}
}

// ---- SAM specifics

func (c *Checker) checkSAMResource(id, typ string, r map[string]any) {
	ptr := joinPtr("Resources", id)
	props := asMap(r["Properties"])
	switch typ {
	case "AWS::Serverless::Function":
		c.checkFunction(id, ptr, r, props)
	case "AWS::Serverless::HttpApi", "AWS::Serverless::Api":
		if typ == "AWS::Serverless::HttpApi" {
			c.checkHttpCors(ptr+"/Properties/CorsConfiguration", props["CorsConfiguration"])
		}
		auth := asMap(props["Auth"])
		if auth == nil {
			return
		}
		da, ok := auth["DefaultAuthorizer"].(string)
		if !ok {
			return
		}
		authz := asMap(auth["Authorizers"])
		if _, defined := authz[da]; defined {
			return
		}
		if da == "AWS_IAM" && (typ == "AWS::Serverless::Api" || auth["EnableIamAuthorizer"] == true) {
			return
		}
		msg := fmt.Sprintf("DefaultAuthorizer %q is not defined in Auth.Authorizers", da)
		if s := suggest(da, keys(authz)); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		c.errorf(ptr+"/Properties/Auth/DefaultAuthorizer", "%s", msg)
	}
}

var httpCorsKeys = []string{"AllowCredentials", "AllowHeaders", "AllowMethods", "AllowOrigins", "ExposeHeaders", "MaxAge"}

// checkHttpCors checks an HttpApi CorsConfiguration, which SAM's schema leaves untyped.
func (c *Checker) checkHttpCors(ptr string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return // true/false, a string, or nothing
	}
	if _, _, isFn := intrinsic(m); isFn {
		return
	}
	for _, k := range keys(m) {
		if !contains(httpCorsKeys, k) {
			msg := fmt.Sprintf("unknown CorsConfiguration property %q", k)
			if s := suggest(k, httpCorsKeys); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.keyErr(sevError, ptr+"/"+ptrEscape(k), "%s; allowed: %s", msg, strings.Join(httpCorsKeys, ", "))
		}
	}
}

func (c *Checker) checkFunction(id, ptr string, r, props map[string]any) {
	pp := ptr + "/Properties"
	pkg, _ := c.fnProp(props, "PackageType").(string)
	_, hasCode := props["CodeUri"]
	if !hasCode {
		_, hasCode = asMap(c.globals["Function"])["CodeUri"]
	}
	_, hasInline := props["InlineCode"]
	_, hasImage := props["ImageUri"]
	meta := asMap(r["Metadata"])
	if pkg == "Image" {
		if !hasImage && meta["DockerContext"] == nil {
			c.errorf(pp, "PackageType Image needs ImageUri (or Metadata DockerContext/Dockerfile for sam build)")
		}
	} else if pkg == "" || pkg == "Zip" {
		switch {
		case hasCode && hasInline:
			c.errorf(pp, "only one of CodeUri and InlineCode can be set")
		case !hasCode && !hasInline && !hasImage:
			c.errorf(pp, "either CodeUri or InlineCode must be set (here or in Globals.Function)")
		}
		if !hasImage {
			if c.fnProp(props, "Runtime") == nil {
				c.errorf(pp, "missing Runtime (required for a .zip function; set it here or in Globals.Function)")
			}
			if c.fnProp(props, "Handler") == nil {
				c.errorf(pp, "missing Handler (required for a .zip function; use \"bootstrap\" for provided.* runtimes)")
			}
		}
	}
	if rt, ok := c.fnProp(props, "Runtime").(string); ok && deprecatedRuntimes[rt] {
		where := pp + "/Runtime"
		if _, own := props["Runtime"]; !own {
			where = "/Globals/Function/Runtime"
		}
		c.warnf(where, "runtime %q is deprecated by AWS Lambda (use provided.al2023 for Go, or a current version)", rt)
	}
	if bm, ok := meta["BuildMethod"].(string); ok {
		known := extraBuildMethods[bm]
		if !known {
			if lam := c.s.rawCFN("AWS::Lambda::Function"); lam != nil {
				rtp := asMap(asMap(lam["properties"])["Runtime"])
				for _, e := range rtp["enum"].([]any) {
					if e == bm {
						known = true
					}
				}
			}
		}
		if !known {
			c.warnf(ptr+"/Metadata/BuildMethod", "BuildMethod %q is not one sam build knows (go1.x, makefile, esbuild, rust-cargolambda, or a runtime name)", bm)
		}
	}
	if _, hasRole := props["Role"]; hasRole && props["Policies"] != nil {
		c.warnf(pp+"/Policies", "Policies are ignored when Role is set")
	}
	c.checkPolicies(pp+"/Policies", props["Policies"])
	c.checkEvents(id, pp, asMap(props["Events"]))
}

func (c *Checker) checkPolicies(ptr string, v any) {
	var list []any
	switch p := v.(type) {
	case nil:
		return
	case []any:
		list = p
	default:
		list = []any{p}
		ptr += "/-"
	}
	names := make([]string, 0, len(c.s.policies))
	for n := range c.s.policies {
		names = append(names, n)
	}
	for i, item := range list {
		ip := ptr + "/" + strconv.Itoa(i)
		if strings.HasSuffix(ptr, "/-") {
			ip = strings.TrimSuffix(ptr, "/-")
		}
		m, ok := item.(map[string]any)
		if !ok {
			continue // managed policy name or ARN
		}
		if _, _, isFn := intrinsic(m); isFn {
			continue
		}
		if _, isDoc := m["Statement"]; isDoc {
			continue
		}
		if len(m) != 1 {
			c.errorf(ip, "a policy must be a managed policy name/ARN, a SAM policy template (one key) or a policy document with Statement")
			continue
		}
		for name, args := range m {
			tpl, ok := c.s.policies[name]
			if !ok {
				msg := fmt.Sprintf("%q is not a SAM policy template", name)
				if s := suggest(name, names); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				msg += "; a policy document needs a Statement"
				c.keyErr(sevError, ip+"/"+ptrEscape(name), "%s", msg)
				continue
			}
			am, ok := args.(map[string]any)
			if !ok {
				if len(tpl.Parameters) == 0 && (args == nil || fmt.Sprint(args) == "map[]") {
					continue
				}
				c.errorf(ip+"/"+ptrEscape(name), "policy template %s takes a mapping of parameters (%s)", name, strings.Join(keys(tpl.Parameters), ", "))
				continue
			}
			for _, need := range keys(tpl.Parameters) {
				if _, ok := am[need]; !ok {
					c.errorf(ip+"/"+ptrEscape(name), "policy template %s needs parameter %q", name, need)
				}
			}
			for _, got := range keys(am) {
				if _, ok := tpl.Parameters[got]; !ok {
					msg := fmt.Sprintf("policy template %s has no parameter %q", name, got)
					if s := suggest(got, keys(tpl.Parameters)); s != "" {
						msg += fmt.Sprintf(" (did you mean %q?)", s)
					}
					c.keyErr(sevError, ip+"/"+ptrEscape(name)+"/"+ptrEscape(got), "%s", msg)
				}
			}
		}
	}
}

func (c *Checker) checkEvents(fnID, pp string, events map[string]any) {
	routes := map[string]string{}
	for _, en := range keys(events) {
		ep := pp + "/Events/" + ptrEscape(en)
		ev := asMap(events[en])
		props := asMap(ev["Properties"])
		if props == nil {
			continue
		}
		typ, _ := ev["Type"].(string)
		var apiKey, wantType string
		switch typ {
		case "HttpApi":
			apiKey, wantType = "ApiId", "AWS::Serverless::HttpApi"
		case "Api":
			apiKey, wantType = "RestApiId", "AWS::Serverless::Api"
		default:
			continue
		}
		apiID := ""
		if ref, ok := props[apiKey]; ok {
			name, isStr := ref.(string) // SAM also takes a bare logical ID
			if fn, arg, isFn := intrinsic(ref); isFn && fn == "Ref" {
				name, isStr = arg.(string)
			}
			if isStr {
				if t, known := c.resType[name]; known {
					if t != wantType {
						c.warnf(ep+"/Properties/"+apiKey, "%s refers to %s, which is a %s, not an %s", apiKey, name, t, wantType)
					} else {
						apiID = name
					}
				}
				// an unknown name in a Ref is reported by the Ref check; a bare
				// string that names no resource is taken as an external API ID
			}
		} else {
			apiID = "(implicit)"
		}
		path, _ := props["Path"].(string)
		method, _ := props["Method"].(string)
		if path != "" && !strings.HasPrefix(path, "/") && !(typ == "HttpApi" && path == "$default") {
			c.errorf(ep+"/Properties/Path", "Path must start with \"/\", got %q", path)
		}
		if method != "" && !httpMethods[strings.ToLower(method)] {
			msg := fmt.Sprintf("%q is not an HTTP method", method)
			if s := suggest(strings.ToLower(method), keys(boolMap(httpMethods))); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", strings.ToUpper(s))
			}
			if typ == "HttpApi" {
				c.warnf(ep+"/Properties/Method", "%s", msg)
			} else {
				c.errorf(ep+"/Properties/Method", "%s", msg)
			}
		}
		if _, conditional := c.resources[fnID]["Condition"]; path != "" && method != "" && !conditional {
			rk := apiID + " " + strings.ToUpper(method) + " " + path
			if prev, dup := routes[rk]; dup {
				c.errorf(ep, "route %s %s is also declared by event %s", strings.ToUpper(method), path, prev)
			}
			routes[rk] = en
			c.allRoutes(rk, fnID+"."+en, ep)
		}
		auth := asMap(props["Auth"])
		az, ok := auth["Authorizer"].(string)
		if !ok || az == "NONE" || az == "AWS_IAM" {
			continue
		}
		var apiAuth map[string]any
		if apiID == "(implicit)" {
			gk := "HttpApi"
			if typ == "Api" {
				gk = "Api"
			}
			apiAuth = asMap(asMap(asMap(c.globals[gk])["Auth"]))
		} else if apiID != "" {
			apiAuth = asMap(asMap(c.resources[apiID]["Properties"])["Auth"])
		} else {
			continue
		}
		authz := asMap(apiAuth["Authorizers"])
		if _, ok := authz[az]; !ok {
			msg := fmt.Sprintf("Authorizer %q is not defined in the API's Auth.Authorizers", az)
			if s := suggest(az, append(keys(authz), "NONE", "AWS_IAM")); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.errorf(ep+"/Properties/Auth/Authorizer", "%s", msg)
		}
	}
}

// allRoutes catches the same route declared by two functions.
func (c *Checker) allRoutes(rk, owner, ptr string) {
	if c.routeOwners == nil {
		c.routeOwners = map[string]string{}
	}
	if prev, ok := c.routeOwners[rk]; ok && !strings.HasPrefix(owner, strings.Split(prev, ".")[0]+".") {
		c.errorf(ptr, "route %s is also declared by %s", rk[strings.Index(rk, " ")+1:], prev)
	}
	c.routeOwners[rk] = owner
}

func boolMap(m map[string]bool) map[string]any {
	out := map[string]any{}
	for k := range m {
		out[k] = true
	}
	return out
}

// ---- intrinsic functions

var knownFns = []string{"Ref", "Condition", "Fn::Base64", "Fn::Cidr", "Fn::FindInMap", "Fn::GetAtt", "Fn::GetAZs",
	"Fn::If", "Fn::ImportValue", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::Sub", "Fn::Transform",
	"Fn::And", "Fn::Equals", "Fn::Not", "Fn::Or", "Fn::ToJsonString", "Fn::Length", "Fn::ForEach", "Fn::GetStackOutput"}

func (c *Checker) walk(v any, ptr, section string) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			c.walk(e, ptr+"/"+strconv.Itoa(i), section)
		}
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") || (k == "Condition" && section == "conditions") {
					c.checkFn(k, arg, ptr+"/"+ptrEscape(k), section)
					c.walk(arg, ptr+"/"+ptrEscape(k), section)
					return
				}
			}
		}
		for k, e := range x {
			if k == "Metadata" && strings.Count(ptr, "/") == 2 && section == "resources" {
				continue // resource Metadata is free-form
			}
			if k == "DefinitionBody" || k == "Definition" { // OpenAPI / ASL bodies: only intrinsics matter
				c.walk(e, ptr+"/"+ptrEscape(k), section)
				continue
			}
			c.walk(e, ptr+"/"+ptrEscape(k), section)
		}
	}
}

func (c *Checker) checkFn(fn string, arg any, ptr, section string) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			if _, _, isFn := intrinsic(arg); !isFn {
				c.errorf(ptr, "Ref takes a logical ID (string), got %s", typeName(arg))
			}
			return
		}
		c.checkRef(name, ptr, section)
	case "Fn::GetAtt":
		var res string
		var attr any
		switch a := arg.(type) {
		case string:
			r, at, ok := strings.Cut(a, ".")
			if !ok {
				c.errorf(ptr, "Fn::GetAtt needs [LogicalId, Attribute] or \"LogicalId.Attribute\"")
				return
			}
			res, attr = r, at
		case []any:
			if len(a) != 2 {
				c.errorf(ptr, "Fn::GetAtt needs exactly two elements [LogicalId, Attribute], got %d", len(a))
				return
			}
			r, ok := a[0].(string)
			if !ok {
				c.errorf(ptr, "the first element of Fn::GetAtt must be a logical ID (string)")
				return
			}
			res, attr = r, a[1]
		default:
			c.errorf(ptr, "Fn::GetAtt needs [LogicalId, Attribute]")
			return
		}
		if section == "conditions" {
			c.errorf(ptr, "Fn::GetAtt cannot be used in Conditions")
			return
		}
		c.checkGetAtt(res, attr, ptr)
	case "Fn::Sub":
		var str string
		var vars map[string]any
		switch a := arg.(type) {
		case string:
			str = a
		case []any:
			if len(a) != 2 {
				c.errorf(ptr, "Fn::Sub takes a string or [string, {variables}]")
				return
			}
			s, ok := a[0].(string)
			if !ok {
				c.errorf(ptr, "the first element of Fn::Sub must be a string")
				return
			}
			str = s
			vars, ok = a[1].(map[string]any)
			if !ok {
				if _, _, isFn := intrinsic(a[1]); !isFn {
					c.errorf(ptr, "the second element of Fn::Sub must be a mapping of variables")
				}
				return
			}
		default:
			c.errorf(ptr, "Fn::Sub takes a string or [string, {variables}]")
			return
		}
		c.checkSub(str, vars, ptr, section)
	case "Fn::If":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 {
			c.errorf(ptr, "Fn::If takes [ConditionName, ValueIfTrue, ValueIfFalse]")
			return
		}
		c.checkConditionName(ptr+"/0", a[0])
	case "Condition":
		c.checkConditionName(ptr, arg)
	case "Fn::Join":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			c.errorf(ptr, "Fn::Join takes [delimiter, [values...]]")
			return
		}
		if _, ok := a[0].(string); !ok {
			c.errorf(ptr+"/0", "the Fn::Join delimiter must be a string")
		}
		if _, ok := a[1].([]any); !ok {
			if _, _, isFn := intrinsic(a[1]); !isFn {
				c.errorf(ptr+"/1", "the second element of Fn::Join must be a list")
			}
		}
	case "Fn::Select":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			c.errorf(ptr, "Fn::Select takes [index, [values...]]")
		}
	case "Fn::Split":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			c.errorf(ptr, "Fn::Split takes [delimiter, string]")
		}
	case "Fn::Equals":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			c.errorf(ptr, "Fn::Equals takes exactly two values")
		}
	case "Fn::And", "Fn::Or":
		a, ok := arg.([]any)
		if !ok || len(a) < 2 || len(a) > 10 {
			c.errorf(ptr, "%s takes a list of 2 to 10 conditions", fn)
		}
	case "Fn::Not":
		a, ok := arg.([]any)
		if !ok || len(a) != 1 {
			c.errorf(ptr, "Fn::Not takes a list of exactly one condition")
		}
	case "Fn::FindInMap":
		a, ok := arg.([]any)
		if !ok || len(a) < 3 || len(a) > 4 {
			c.errorf(ptr, "Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey]")
			return
		}
		mn, ok := a[0].(string)
		if !ok {
			return
		}
		m, ok := c.mappings[mn].(map[string]any)
		if !ok {
			msg := fmt.Sprintf("mapping %q is not defined in Mappings", mn)
			if s := suggest(mn, keys(c.mappings)); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.errorf(ptr+"/0", "%s", msg)
			return
		}
		if len(a) == 4 {
			return // with a default value (AWS::LanguageExtensions)
		}
		k1, ok := a[1].(string)
		if !ok {
			// top-level key chosen at deploy time: the second key must exist under every one
			if k2, ok := a[2].(string); ok {
				var missing []string
				for _, top := range keys(m) {
					if _, ok := asMap(m[top])[k2]; !ok {
						missing = append(missing, top)
					}
				}
				if len(missing) == len(m) {
					c.errorf(ptr+"/2", "no entry of mapping %s has the key %q", mn, k2)
				} else if len(missing) > 0 {
					c.warnf(ptr+"/2", "mapping %s has no key %q under %s", mn, k2, strings.Join(missing, ", "))
				}
			}
			return
		}
		sub, ok := m[k1].(map[string]any)
		if !ok {
			c.errorf(ptr+"/1", "mapping %s has no top-level key %q", mn, k1)
			return
		}
		if k2, ok := a[2].(string); ok {
			if _, ok := sub[k2]; !ok {
				c.errorf(ptr+"/2", "mapping %s.%s has no key %q", mn, k1, k2)
			}
		}
	default:
		if !contains(knownFns, fn) {
			msg := fmt.Sprintf("unknown intrinsic function %q", fn)
			if s := suggest(fn, knownFns); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.errorf(ptr, "%s", msg)
		}
	}
}

func (c *Checker) checkRef(name, ptr, section string) {
	if pseudoParams[name] {
		return
	}
	if strings.HasPrefix(name, "AWS::") {
		msg := fmt.Sprintf("%q is not a pseudo parameter", name)
		var pp []string
		for k := range pseudoParams {
			pp = append(pp, k)
		}
		if s := suggest(name, pp); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		c.errorf(ptr, "%s", msg)
		return
	}
	if res, prop, ok := strings.Cut(name, "."); ok {
		if c.samPropertyRef(name) {
			return
		}
		if t, isRes := c.resType[res]; isRes {
			if allowed, isSAM := samReferable[t]; isSAM {
				msg := fmt.Sprintf("%s has no referable property %q (SAM allows %s)", res, prop, strings.Join(allowed, ", "))
				if s := suggest(prop, allowed); s != "" {
					msg += fmt.Sprintf("; did you mean %s.%s?", res, s)
				}
				c.errorf(ptr, "%s", msg)
			} else {
				c.errorf(ptr, "Ref takes a logical ID; for an attribute use !GetAtt %s", name)
			}
			return
		}
	}
	tg := c.lookup(name)
	if section == "conditions" && tg.kind != "param" && tg.kind != "" {
		c.errorf(ptr, "conditions can only Ref parameters, not the resource %q", name)
		return
	}
	switch tg.kind {
	case "param", "resource", "generated":
		return
	case "maybe":
		c.maybeGenerated(ptr, "Ref", name)
		return
	}
	c.unknownID(ptr, "Ref", name)
}

// samPropertyRef accepts SAM's Ref MyFunction.Alias style references.
func (c *Checker) samPropertyRef(name string) bool {
	res, prop, ok := strings.Cut(name, ".")
	if !ok {
		return false
	}
	return contains(samReferable[c.resType[res]], prop)
}

func (c *Checker) checkGetAtt(res string, attr any, ptr string) {
	if c.samPropertyRef(res) {
		return // !GetAtt MyFunction.Version.Version and the like
	}
	tg := c.lookup(res)
	switch tg.kind {
	case "param":
		c.errorf(ptr, "Fn::GetAtt needs a resource; %q is a parameter (use !Ref)", res)
		return
	case "maybe":
		c.maybeGenerated(ptr, "Fn::GetAtt", res)
		return
	case "":
		msg := fmt.Sprintf("Fn::GetAtt refers to %q, which is not a resource of this template", res)
		if s := suggest(res, c.allIDs()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		c.errorf(ptr, "%s", msg)
		return
	}
	a, ok := attr.(string)
	if !ok || tg.typ == "" {
		return
	}
	if tg.isSAM == "AWS::Serverless::LayerVersion" || tg.isSAM == "AWS::Serverless::Connector" {
		return
	}
	if strings.HasPrefix(tg.typ, "Custom::") || tg.typ == "AWS::CloudFormation::CustomResource" || !c.s.hasCFN(tg.typ) {
		return
	}
	if (tg.typ == "AWS::CloudFormation::Stack") && strings.HasPrefix(a, "Outputs.") {
		return
	}
	attrs, props := c.getAtts(tg.typ)
	if contains(attrs, a) || (getAttAnyProperty[tg.typ] && contains(props, strings.Split(a, ".")[0])) {
		return
	}
	if contains(props, a) {
		c.warnf(ptr, "%s is a property of %s, not one of its documented attributes (%s); Fn::GetAtt may reject it", a, tg.typ, strings.Join(attrs, ", "))
		return
	}
	msg := fmt.Sprintf("%s (%s) has no attribute %q", res, displayType(tg), a)
	if s := suggest(a, attrs); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	if len(attrs) > 0 {
		msg += "; attributes: " + strings.Join(attrs, ", ")
	}
	c.errorf(ptr, "%s", msg)
}

func displayType(tg target) string {
	if tg.isSAM != "" {
		return tg.isSAM + " -> " + tg.typ
	}
	return tg.typ
}

// getAtts lists the attributes Fn::GetAtt accepts (read-only properties) and
// the other top-level properties of a CloudFormation type.
func (c *Checker) getAtts(typ string) ([]string, []string) {
	raw := c.s.rawCFN(typ)
	var attrs []string
	ro, _ := raw["readOnlyProperties"].([]any)
	for _, x := range ro {
		p, _ := x.(string)
		attrs = append(attrs, strings.ReplaceAll(strings.TrimPrefix(p, "/properties/"), "/", "."))
	}
	wo := map[string]bool{}
	wol, _ := raw["writeOnlyProperties"].([]any)
	for _, x := range wol {
		p, _ := x.(string)
		wo[strings.TrimPrefix(p, "/properties/")] = true
	}
	var props []string
	for k := range asMap(raw["properties"]) {
		if !wo[k] && !contains(attrs, k) {
			props = append(props, k)
		}
	}
	sort.Strings(attrs)
	sort.Strings(props)
	return attrs, props
}

// Types whose Fn::GetAtt returns any of their properties, not only the
// read-only ones their schema lists.
var getAttAnyProperty = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`AWS::Amplify::Branch AWS::Amplify::Domain AWS::AppSync::DomainName
		AWS::AppSync::FunctionConfiguration AWS::AppSync::Resolver AWS::AutoScaling::AutoScalingGroup
		AWS::Backup::BackupSelection AWS::Backup::BackupVault AWS::CodeArtifact::Domain AWS::CodeArtifact::Repository
		AWS::EC2::CapacityReservation AWS::EC2::Instance AWS::EC2::SecurityGroup AWS::EC2::Subnet AWS::EC2::VPC
		AWS::EFS::MountTarget AWS::EKS::Nodegroup AWS::ElastiCache::ReplicationGroup
		AWS::ElasticLoadBalancingV2::LoadBalancer AWS::Events::EventBus AWS::EventSchemas::Discoverer
		AWS::EventSchemas::Registry AWS::EventSchemas::Schema AWS::GameLift::GameSessionQueue
		AWS::GameLift::MatchmakingConfiguration AWS::GameLift::MatchmakingRuleSet AWS::Grafana::Workspace
		AWS::ImageBuilder::Component AWS::ImageBuilder::ContainerRecipe AWS::ImageBuilder::DistributionConfiguration
		AWS::ImageBuilder::ImagePipeline AWS::ImageBuilder::ImageRecipe AWS::ImageBuilder::InfrastructureConfiguration
		AWS::ManagedBlockchain::Node AWS::Neptune::DBCluster AWS::RDS::DBInstance AWS::RDS::DBParameterGroup
		AWS::RedshiftServerless::Workgroup AWS::Route53Resolver::ResolverRule AWS::Route53Resolver::ResolverRuleAssociation
		AWS::S3::AccessPoint AWS::SageMaker::MonitoringSchedule AWS::SNS::Topic AWS::SQS::Queue AWS::SSM::Parameter
		AWS::StepFunctions::Activity`) {
		getAttAnyProperty[t] = true
	}
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (c *Checker) checkSub(s string, vars map[string]any, ptr, section string) {
	for _, m := range subVar.FindAllStringSubmatch(s, -1) {
		v := strings.TrimSpace(m[1])
		if strings.HasPrefix(v, "!") {
			continue // ${!Literal}
		}
		if _, ok := vars[v]; ok {
			continue
		}
		if v == "" {
			c.errorf(ptr, "empty ${} in Fn::Sub")
			continue
		}
		if pseudoParams[v] {
			continue
		}
		if res, attr, ok := strings.Cut(v, "."); ok {
			if _, isVar := vars[res]; isVar {
				continue
			}
			if c.samPropertyRef(v) {
				continue
			}
			c.checkGetAtt(res, attr, ptr)
			continue
		}
		c.checkRef(v, ptr, section)
	}
}

// The tests here check the deployment against the code: template.yaml's routes,
// environment, table and IAM against the route table, the configuration the code reads,
// the store's schema and the table actions each function really makes; and it runs each
// functions/* bootstrap the way Lambda does, under AWS's Runtime Interface Emulator.
package deploytest

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/alipay-serverless/alipay-serverless/shared/config"
	"github.com/alipay-serverless/alipay-serverless/shared/httpapi"
	"github.com/alipay-serverless/alipay-serverless/shared/metrics"
	"github.com/alipay-serverless/alipay-serverless/shared/orders"
	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
	"github.com/alipay-serverless/alipay-serverless/tools/samvalidate"
)

// logicalIDs maps each function directory to its resource in template.yaml.
var logicalIDs = map[string]string{
	httpapi.FnCreateVoucher: "CreateVoucherFunction",
	httpapi.FnAppPaySign:    "AppPaySignFunction",
	httpapi.FnNotify:        "NotifyFunction",
	httpapi.FnSettle:        "SettleFunction",
	httpapi.FnReconcile:     "ReconcileFunction",
}

// tableActions is what each function is granted on the orders table. TestBootstrapsEndToEnd
// proves each binary calls exactly these, TestTemplateIAMIsLeastPrivilege that the
// template grants exactly these.
var tableActions = map[string][]string{
	httpapi.FnCreateVoucher: {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
	httpapi.FnAppPaySign:    {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
	httpapi.FnNotify:        {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
	httpapi.FnSettle:        {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
	// Query on the due index only (TestTemplateIAMIsLeastPrivilege checks the resource).
	httpapi.FnReconcile: {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"},
}

// envRead is every variable each function's code reads (config.Load and the credentials
// source); optional ones may be conditional in the template.
var envRead = map[string][]string{
	httpapi.FnCreateVoucher: {config.EnvSecretID, config.EnvGatewayURL, config.EnvOrdersTable, config.EnvCredentialsTTL, config.EnvGatewayTimeout, config.EnvNotifyURL},
	httpapi.FnAppPaySign: {config.EnvSecretID, config.EnvGatewayURL, config.EnvOrdersTable, config.EnvCredentialsTTL, config.EnvNotifyURL,
		config.EnvSignNotifyURL, config.EnvAppPayPricing, config.EnvAppPayTimeout, config.EnvGatewayTimeout, config.EnvChargeWindowDays},
	httpapi.FnSettle: {config.EnvSecretID, config.EnvGatewayURL, config.EnvOrdersTable, config.EnvCredentialsTTL, config.EnvGatewayTimeout, config.EnvNotifyURL,
		config.EnvSellerID, config.EnvChargeWindowDays, config.EnvChargeProductCode},
	httpapi.FnNotify: {config.EnvSecretID, config.EnvGatewayURL, config.EnvOrdersTable, config.EnvCredentialsTTL, config.EnvSellerID},
	httpapi.FnReconcile: {config.EnvSecretID, config.EnvGatewayURL, config.EnvOrdersTable, config.EnvCredentialsTTL, config.EnvGatewayTimeout,
		config.EnvReconcileBatch, config.EnvReconcileConcurrency, config.EnvReconcileMaxAttempts, config.EnvChargeProductCode},
}

type node = map[string]any

func moduleRoot(t testing.TB) string {
	t.Helper()
	return testkeys.Root(t)
}

func loadTemplate(t *testing.T) node {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl node
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

func get(n any, path ...string) any {
	for _, p := range path {
		m, ok := n.(node)
		if !ok {
			return nil
		}
		n = m[p]
	}
	return n
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func TestTemplateRoutesEqualTheRouteTable(t *testing.T) {
	tpl := loadTemplate(t)
	var got, want []string
	for fn, id := range logicalIDs {
		events, _ := get(tpl, "Resources", id, "Properties", "Events").(node)
		for name, ev := range events {
			if fn == httpapi.FnReconcile {
				// No route: one EventBridge Scheduler schedule (TestTemplateReconcileSchedule).
				continue
			}
			if get(ev, "Type") != "HttpApi" {
				t.Errorf("%s.%s: event type %v", id, name, get(ev, "Type"))
				continue
			}
			p := get(ev, "Properties")
			if get(p, "PayloadFormatVersion") != "2.0" {
				t.Errorf("%s.%s: payload format must be 2.0", id, name)
			}
			auth, scope := true, ""
			if get(p, "Auth", "Authorizer") == "NONE" {
				auth = false
			}
			if s := strs(get(p, "Auth", "AuthorizationScopes")); len(s) > 0 {
				scope = strings.Join(s, ",")
			}
			got = append(got, strings.Join([]string{get(p, "Method").(string), get(p, "Path").(string), fn, boolStr(auth), scope}, " "))
		}
	}
	for _, r := range httpapi.Routes {
		want = append(want, strings.Join([]string{r.Method, r.Path, r.Function, boolStr(r.Auth), r.Scope}, " "))
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("template routes differ from the route table\n got: %q\nwant: %q", got, want)
	}
	if get(tpl, "Resources", "HttpApi", "Properties", "Auth", "DefaultAuthorizer") != "JwtAuthorizer" {
		t.Error("the HTTP API's default authorizer must be the JWT authorizer")
	}
	if get(tpl, "Resources", "HttpApi", "Properties", "Auth", "Authorizers", "JwtAuthorizer", "JwtConfiguration") == nil {
		t.Error("JwtAuthorizer has no JwtConfiguration")
	}
}

func boolStr(b bool) string {
	if b {
		return "auth"
	}
	return "public"
}

func TestTemplateEnvironmentMatchesWhatTheCodeReads(t *testing.T) {
	tpl := loadTemplate(t)
	global, _ := get(tpl, "Globals", "Function", "Environment", "Variables").(node)
	for fn, id := range logicalIDs {
		t.Run(fn, func(t *testing.T) {
			set := map[string]bool{}
			for k := range global {
				set[k] = true
			}
			own, _ := get(tpl, "Resources", id, "Properties", "Environment", "Variables").(node)
			for k := range own {
				set[k] = true
			}
			for _, k := range envRead[fn] {
				if !set[k] {
					t.Errorf("%s reads %s but the template does not set it", fn, k)
				}
				delete(set, k)
			}
			for k := range set {
				t.Errorf("template sets %s for %s, which its code does not read", k, fn)
			}
		})
	}
}

func TestTemplateTableMatchesTheStore(t *testing.T) {
	tpl := loadTemplate(t)
	tbl := get(tpl, "Resources", "OrdersTable")
	if get(tbl, "Type") != "AWS::DynamoDB::Table" || get(tbl, "DeletionPolicy") != "Retain" || get(tbl, "UpdateReplacePolicy") != "Retain" {
		t.Errorf("OrdersTable must be an AWS::DynamoDB::Table retained on deletion and replacement")
	}
	p := get(tbl, "Properties")
	if get(p, "BillingMode") != orders.BillingMode {
		t.Errorf("BillingMode %v", get(p, "BillingMode"))
	}
	keys := map[string]string{}
	for _, k := range get(p, "KeySchema").([]any) {
		keys[get(k, "KeyType").(string)] = get(k, "AttributeName").(string)
	}
	if keys["HASH"] != orders.PartitionKey || keys["RANGE"] != orders.SortKey {
		t.Errorf("key schema %v, store uses %s/%s", keys, orders.PartitionKey, orders.SortKey)
	}
	wantTypes := map[string]string{orders.PartitionKey: orders.KeyType, orders.SortKey: orders.KeyType,
		orders.DuePartitionAttr: orders.KeyType, orders.DueSortAttr: orders.DueSortType}
	gotTypes := map[string]string{}
	for _, a := range get(p, "AttributeDefinitions").([]any) {
		gotTypes[get(a, "AttributeName").(string)], _ = get(a, "AttributeType").(string)
	}
	if !maps.Equal(gotTypes, wantTypes) {
		t.Errorf("attribute definitions %v, store uses %v", gotTypes, wantTypes)
	}
	gsis, _ := get(p, "GlobalSecondaryIndexes").([]any)
	if len(gsis) != orders.GlobalSecondaryIndexCount {
		t.Errorf("%d GSIs, store uses %d", len(gsis), orders.GlobalSecondaryIndexCount)
	}
	for _, g := range gsis {
		keys := map[string]string{}
		for _, k := range get(g, "KeySchema").([]any) {
			keys[get(k, "KeyType").(string)] = get(k, "AttributeName").(string)
		}
		if get(g, "IndexName") != orders.DueIndexName || keys["HASH"] != orders.DuePartitionAttr || keys["RANGE"] != orders.DueSortAttr ||
			get(g, "Projection", "ProjectionType") != orders.DueProjection {
			t.Errorf("GSI %v %v %v, store queries %s (%s, %s) %s", get(g, "IndexName"), keys, get(g, "Projection", "ProjectionType"),
				orders.DueIndexName, orders.DuePartitionAttr, orders.DueSortAttr, orders.DueProjection)
		}
	}
	if get(p, "TimeToLiveSpecification", "AttributeName") != orders.TTLAttribute || get(p, "TimeToLiveSpecification", "Enabled") != true {
		t.Errorf("TTL must be enabled on %s", orders.TTLAttribute)
	}
	if get(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true || get(p, "SSESpecification", "SSEEnabled") != true {
		t.Error("PITR and SSE must be enabled")
	}
}

func TestTemplateIAMIsLeastPrivilege(t *testing.T) {
	tpl := loadTemplate(t)
	resources := get(tpl, "Resources").(node)
	roles := map[string]string{httpapi.FnCreateVoucher: "CreateVoucherRole", httpapi.FnAppPaySign: "AppPaySignRole", httpapi.FnNotify: "NotifyRole",
		httpapi.FnSettle: "SettleRole", httpapi.FnReconcile: "ReconcileRole"}
	var statements []any
	for name, r := range resources {
		switch get(r, "Type") {
		case "AWS::IAM::Role":
			for _, p := range get(r, "Properties", "Policies").([]any) {
				statements = append(statements, get(p, "PolicyDocument", "Statement").([]any)...)
			}
		case "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy":
			statements = append(statements, get(r, "Properties", "PolicyDocument", "Statement").([]any)...)
		}
		if get(r, "Type") == "AWS::Serverless::Function" && get(r, "Properties", "Policies") != nil {
			t.Errorf("%s uses SAM Policies; roles are explicit", name)
		}
	}
	for _, s := range statements {
		for _, a := range strs(get(s, "Action")) {
			if strings.Contains(a, "*") {
				t.Errorf("wildcard action %s", a)
			}
		}
		if slices.Contains(strs(get(s, "Resource")), "*") {
			for _, a := range strs(get(s, "Action")) {
				if !strings.HasPrefix(a, "xray:") {
					t.Errorf("action %s on Resource *; only X-Ray needs it", a)
				}
			}
		}
	}
	for fn, role := range roles {
		if get(resources, logicalIDs[fn], "Properties", "Role") != role+".Arn" {
			t.Errorf("%s does not use %s", logicalIDs[fn], role)
		}
		var got []string
		for _, p := range get(resources, role, "Properties", "Policies").([]any) {
			for _, s := range get(p, "PolicyDocument", "Statement").([]any) {
				for _, a := range strs(get(s, "Action")) {
					if strings.HasPrefix(a, "dynamodb:") {
						got = append(got, a)
						res := strs(get(s, "Resource"))
						if a == "dynamodb:Query" {
							// The due index only, never the table.
							// (yaml drops the !Sub tag: the string is what Fn::Sub expands.)
							if !slices.Equal(res, []string{"${OrdersTable.Arn}/index/" + orders.DueIndexName}) {
								t.Errorf("%s: Query on %v, want the %s index only", role, res, orders.DueIndexName)
							}
							continue
						}
						if !slices.Equal(res, []string{"OrdersTable.Arn"}) {
							t.Errorf("%s: %s on %v, want the orders table only", role, a, res)
						}
					}
				}
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, tableActions[fn]) {
			t.Errorf("%s grants %v, %s uses %v", role, got, fn, tableActions[fn])
		}
		managed := strs(get(resources, role, "Properties", "ManagedPolicyArns"))
		if !slices.Equal(managed, []string{"FunctionCommonPolicy"}) {
			t.Errorf("%s managed policies %v", role, managed)
		}
	}
	var secretStatements int
	for _, s := range get(resources, "FunctionCommonPolicy", "Properties", "PolicyDocument", "Statement").([]any) {
		if slices.Contains(strs(get(s, "Action")), "secretsmanager:GetSecretValue") {
			secretStatements++
			if len(strs(get(s, "Action"))) != 1 {
				t.Error("the secret statement grants more than GetSecretValue")
			}
		}
	}
	if secretStatements != 1 {
		t.Errorf("%d GetSecretValue statements", secretStatements)
	}
}

// The offline SAM validator (tools/samvalidate, schema data embedded) runs in-process
// with -strict: no error and no warning on template.yaml.
func TestTemplatePassesOfflineSAMValidation(t *testing.T) {
	s, err := samvalidate.Embedded()
	if err != nil {
		t.Fatalf("samvalidate schemas: %v", err)
	}
	var out strings.Builder
	path := filepath.Join(moduleRoot(t), "template.yaml")
	opt := samvalidate.Options{Strict: true}
	errs, warns, err := s.CheckFile(path, opt, &out)
	if err != nil || opt.Failed(errs, warns) {
		t.Fatalf("samvalidate -strict template.yaml: %v, %d error(s), %d warning(s)\n%s", err, errs, warns, out.String())
	}
}

// The embedded schema data is trimmed to the types template.yaml uses: it must still
// reject a broken copy of the real template, so trimming cannot silently weaken it.
func TestOfflineSAMValidationRejectsBrokenTemplate(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(moduleRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := samvalidate.Embedded()
	if err != nil {
		t.Fatalf("samvalidate schemas: %v", err)
	}
	cases := []struct{ name, old, new, want string }{
		{"wrong_runtime", "    Runtime: provided.al2023\n", "    Runtime: provided.al2025\n", `"provided.al2025" is not an allowed value`},
		{"unknown_dynamodb_table_property", "      BillingMode: PAY_PER_REQUEST\n", "      BillingMode: PAY_PER_REQUEST\n      BillingModes: PAY_PER_REQUEST\n", `unknown property "BillingModes"`},
		{"dynamodb_enum", "      BillingMode: PAY_PER_REQUEST\n", "      BillingMode: ON_DEMAND\n", `"ON_DEMAND" is not an allowed value`},
		{"unknown_serverless_function_property", "      Description: 'Pre-auth: ", "      Descriptionn: 'Pre-auth: ", `unknown property "Descriptionn"`},
		{"unknown_resource_type", "    Type: AWS::DynamoDB::Table\n", "    Type: AWS::SQS::Queues\n", `unknown resource type "AWS::SQS::Queues"`},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Count(string(src), tc.old) != 1 {
				t.Fatalf("template.yaml holds %q %d times, want once", tc.old, strings.Count(string(src), tc.old))
			}
			path := filepath.Join(dir, tc.name+".yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(string(src), tc.old, tc.new, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			errs, _, err := s.CheckFile(path, samvalidate.Options{Strict: true}, &out)
			if err != nil {
				t.Fatal(err)
			}
			if errs == 0 || !strings.Contains(out.String(), tc.want) {
				t.Errorf("%d error(s), none containing %q:\n%s", errs, tc.want, out.String())
			}
		})
	}
}

func TestTemplateRuntimeSettings(t *testing.T) {
	tpl := loadTemplate(t)
	g := get(tpl, "Globals", "Function")
	if get(g, "Runtime") != "provided.al2023" || !slices.Equal(strs(get(g, "Architectures")), []string{"arm64"}) ||
		get(g, "Handler") != "bootstrap" || get(g, "Tracing") != "Active" || get(g, "LoggingConfig", "LogFormat") != "JSON" {
		t.Errorf("globals: %v", g)
	}
	for fn, id := range logicalIDs {
		p := get(tpl, "Resources", id, "Properties")
		mem, ok := get(p, "MemorySize").(int)
		if !ok || mem < 128 || mem > 10240 {
			t.Errorf("%s: MemorySize %v must be set from the benchmarks", fn, get(p, "MemorySize"))
		}
		if get(tpl, "Resources", id, "Metadata", "BuildMethod") != "makefile" {
			t.Errorf("%s: BuildMethod must be makefile (the Makefile's build-%s target)", fn, id)
		}
	}
	// The voucher function outlives one gateway call plus recording its outcome.
	if to, _ := get(tpl, "Resources", "CreateVoucherFunction", "Properties", "Timeout").(int); to <= 12 {
		t.Errorf("createvoucher timeout %ds leaves no time to record the gateway outcome", to)
	}
}

// Every samconfig.toml environment passes only parameters the template declares, and
// every parameter without a default.
func TestSamconfigParametersMatchTheTemplate(t *testing.T) {
	tpl := loadTemplate(t)
	params, _ := get(tpl, "Parameters").(node)
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\[([a-z-]+)\.deploy\.parameters\]$|^parameter_overrides = "(.*)"$`)
	env, seen := "", map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		if m[1] != "" {
			env = m[1]
			continue
		}
		seen[env] = true
		given := map[string]bool{}
		for _, kv := range strings.Fields(m[2]) {
			k, _, _ := strings.Cut(kv, "=")
			if _, ok := params[k]; !ok {
				t.Errorf("%s: parameter %s is not in template.yaml", env, k)
			}
			given[k] = true
		}
		for name, p := range params {
			if get(p, "Default") == nil && !given[name] {
				t.Errorf("%s: required parameter %s is not given", env, name)
			}
		}
	}
	if !seen["default"] || !seen["alipay-sandbox"] {
		t.Errorf("environments with parameter_overrides: %v", seen)
	}
}

// TestTemplateReconcileSchedule: the reconciler runs on an EventBridge Scheduler
// schedule from the ReconcileSchedule parameter (default every 5 minutes), with a retry
// policy and a dead-letter queue for invocations that still fail, and has no route.
func TestTemplateReconcileSchedule(t *testing.T) {
	tpl := loadTemplate(t)
	if d := get(tpl, "Parameters", "ReconcileSchedule", "Default"); d != "rate(5 minutes)" {
		t.Errorf("ReconcileSchedule default %v", d)
	}
	events, _ := get(tpl, "Resources", "ReconcileFunction", "Properties", "Events").(node)
	if len(events) != 1 {
		t.Fatalf("ReconcileFunction events %v, want one schedule", events)
	}
	for name, ev := range events {
		p := get(ev, "Properties")
		switch {
		case get(ev, "Type") != "ScheduleV2":
			t.Errorf("%s: type %v, want ScheduleV2", name, get(ev, "Type"))
		case get(p, "ScheduleExpression") != "ReconcileSchedule":
			t.Errorf("%s: schedule %v, want the ReconcileSchedule parameter", name, get(p, "ScheduleExpression"))
		case get(p, "RetryPolicy", "MaximumRetryAttempts") == nil:
			t.Errorf("%s: no retry policy", name)
		case get(p, "DeadLetterConfig", "Arn") != "ReconcileDeadLetterQueue.Arn":
			t.Errorf("%s: dead-letter %v", name, get(p, "DeadLetterConfig"))
		}
	}
	if get(tpl, "Resources", "ReconcileDeadLetterQueue", "Type") != "AWS::SQS::Queue" {
		t.Error("no ReconcileDeadLetterQueue")
	}
}

// TestAlarmsNameMetricsTheCodeEmits: every alarm on our namespace names a metric of the
// catalog (shared/metrics) with exactly one of its dimension sets, and that metric is
// emitted by code outside the catalog; every alarm has the AlarmTopicArn actions.
func TestAlarmsNameMetricsTheCodeEmits(t *testing.T) {
	tpl := loadTemplate(t)
	byName := map[string]metrics.Def{}
	for _, d := range metrics.Catalog {
		byName[d.Name] = d
	}
	emitted := emittedMetrics(t)
	var ours int
	for id, r := range get(tpl, "Resources").(node) {
		if get(r, "Type") != "AWS::CloudWatch::Alarm" {
			continue
		}
		p := get(r, "Properties")
		if get(p, "AlarmActions") == nil || get(p, "OKActions") == nil {
			t.Errorf("%s has no AlarmTopicArn actions", id)
		}
		if get(p, "Namespace") != metrics.Namespace {
			continue
		}
		ours++
		name, _ := get(p, "MetricName").(string)
		def, ok := byName[name]
		if !ok {
			t.Errorf("%s: metric %q is not in the catalog", id, name)
			continue
		}
		var dims []string
		for _, d := range asList(get(p, "Dimensions")) {
			dims = append(dims, get(d, "Name").(string))
		}
		sort.Strings(dims)
		match := false
		for _, set := range def.Dimensions {
			s := slices.Clone(set)
			sort.Strings(s)
			match = match || slices.Equal(s, dims) || (len(s) == 0 && len(dims) == 0)
		}
		if !match {
			t.Errorf("%s: dimensions %v are none of %s's sets %v", id, dims, name, def.Dimensions)
		}
		if !emitted[name] {
			t.Errorf("%s: no code emits %s", id, name)
		}
	}
	for _, want := range []string{"ForgedNotifications", "ReconcileStuck", "GatewayCalls", "ReconcileErrors", "PaidAfterClose"} {
		found := false
		for _, r := range get(tpl, "Resources").(node) {
			found = found || (get(r, "Type") == "AWS::CloudWatch::Alarm" && get(r, "Properties", "MetricName") == want)
		}
		if !found {
			t.Errorf("no alarm on %s", want)
		}
	}
	if ours == 0 {
		t.Fatal("no alarm on the code's metrics")
	}
}

// emittedMetrics finds the catalog metrics the code counts: a metrics.Count (or
// Emitter.Count) naming metrics.<Var> in a non-test Go file outside shared/metrics.
func emittedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	vars := map[string]string{}
	re := regexp.MustCompile(`\.Count\(metrics\.([A-Z][A-Za-z]+)`)
	root := moduleRoot(t)
	for _, dir := range []string{"shared", "functions", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
				strings.Contains(path, filepath.Join("shared", "metrics")) {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				vars[m[1]] = path
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	defs := map[string]metrics.Def{
		"Notifications": metrics.Notifications, "NotificationsRejected": metrics.NotificationsRejected,
		"ForgedNotifications": metrics.ForgedNotifications, "GatewayCalls": metrics.GatewayCalls,
		"OperationsUnknown": metrics.OperationsUnknown, "ReconcileResolved": metrics.ReconcileResolved,
		"ReconcileStuck": metrics.ReconcileStuck, "ReconcileErrors": metrics.ReconcileErrors, "PaidAfterClose": metrics.PaidAfterClose,
	}
	if len(defs) != len(metrics.Catalog) {
		t.Fatalf("the test knows %d catalog variables, the catalog has %d", len(defs), len(metrics.Catalog))
	}
	out := map[string]bool{}
	for v := range vars {
		if d, ok := defs[v]; ok {
			out[d.Name] = true
		}
	}
	return out
}

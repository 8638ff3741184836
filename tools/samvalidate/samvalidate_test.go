package samvalidate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each case breaks one of the good templates in testdata/ and names a piece
// of the error message the checker must print for it.
var brokenCases = []struct {
	name, file, old, new, want string
}{
	{"function property typo", "payments.yaml", "      Handler: bootstrap\n", "      Handeler: bootstrap\n", `unknown property "Handeler" (did you mean "Handler"?)`},
	{"GetAtt bad attribute", "payments.yaml", "!GetAtt PaymentsFunction.Arn", "!GetAtt PaymentsFunction.Arnn", `has no attribute "Arnn"`},
	{"GetAtt missing resource", "payments.yaml", "!GetAtt PaymentsTable.Arn", "!GetAtt PaymentTable.Arn", `"PaymentTable", which is not a resource`},
	{"Ref missing target", "payments.yaml", "            TableName: !Ref PaymentsTable\n", "            TableName: !Ref PaymentsTabel\n", `Ref refers to "PaymentsTabel"`},
	{"bad runtime", "payments.yaml", "    Runtime: provided.al2023\n", "    Runtime: provided.al2025\n", `"provided.al2025" is not an allowed value`},
	{"bad architecture", "payments.yaml", "      - arm64\n", "      - arm65\n", `"arm65" is not an allowed value`},
	{"DynamoDB enum", "payments.yaml", "BillingMode: PAY_PER_REQUEST", "BillingMode: ON_DEMAND", `"ON_DEMAND" is not an allowed value`},
	{"DynamoDB property typo", "payments.yaml", "      PointInTimeRecoverySpecification:", "      PointInTimeRecoverySpec:", `unknown property "PointInTimeRecoverySpec"`},
	{"event type typo", "payments.yaml", "          Type: HttpApi\n", "          Type: HttpAPI\n", `"HttpAPI" is not an allowed value (did you mean "HttpApi"?)`},
	{"undefined default authorizer", "payments.yaml", "DefaultAuthorizer: OAuth2Authorizer", "DefaultAuthorizer: OAuthAuthorizer", `DefaultAuthorizer "OAuthAuthorizer" is not defined`},
	{"policy template parameter", "payments.yaml", "            TableName: !Ref PaymentsTable\n", "            Table: !Ref PaymentsTable\n", `needs parameter "TableName"`},
	{"unknown policy template", "payments.yaml", "AWSSecretsManagerGetSecretValuePolicy:", "AWSSecretsManagerGetSecretValuesPolicy:", `is not a SAM policy template`},
	{"Sub undefined variable", "payments.yaml", "${Stage}'", "${Stag}'", `Ref refers to "Stag"`},
	{"missing KeySchema", "payments.yaml", "      KeySchema:\n        - AttributeName: pk\n          KeyType: HASH\n        - AttributeName: sk\n          KeyType: RANGE\n", "", `missing required property "KeySchema"`},
	{"unknown resource type", "payments.yaml", "Type: AWS::DynamoDB::Table", "Type: AWS::DynamoDB::Tabel", `unknown resource type "AWS::DynamoDB::Tabel"`},
	{"bad parameter type", "payments.yaml", "    Type: String\n    Default: dev", "    Type: Strng\n    Default: dev", `"Strng" is not a parameter type`},
	{"MemorySize not an integer", "payments.yaml", "    MemorySize: 256\n", "    MemorySize: lots\n", `expected an integer, got "lots"`},
	{"Timeout out of range", "payments.yaml", "    Timeout: 10\n", "    Timeout: 9000\n", `9000 is greater than the maximum 900`},
	{"Globals key typo", "payments.yaml", "    Tracing: Active\n", "    Tracing: Active\n    Handeler: bootstrap\n", `unknown property "Handeler"`},
	{"missing CodeUri", "payments.yaml", "      CodeUri: ./cmd/payments\n", "", `either CodeUri or InlineCode must be set`},
	{"event property typo", "payments.yaml", "            Path: /health\n            Method: GET\n", "            Path: /health\n            Methd: GET\n", `unknown property "Methd"`},
	{"Tracing enum", "payments.yaml", "    Tracing: Active\n", "    Tracing: Enabled\n", `"Enabled" is not an allowed value`},
	{"parameter default not allowed", "payments.yaml", "    Default: dev\n", "    Default: test\n", `Default "test" is not one of AllowedValues`},
	{"event authorizer typo", "alipay.yaml", "              Authorizer: NONE", "              Authorizer: Jwtt", `Authorizer "Jwtt" is not defined`},
	{"duplicate route", "alipay.yaml", "Path: '/v1/app-pay/orders/{out_trade_no}', Method: GET", "Path: '/v1/preauth/orders/{out_order_no}', Method: GET", `is also declared by`},
	{"undefined condition", "alipay.yaml", "    Condition: IsProd\n", "    Condition: IsProduction\n", `condition "IsProduction" is not defined`},
	{"FindInMap key", "alipay.yaml", "MemorySize: !FindInMap [StageConfig, !Ref Stage, MemorySize]", "MemorySize: !FindInMap [StageConfig, !Ref Stage, Memory]", `has the key "Memory"`},
	{"HttpApi CORS key typo", "alipay.yaml", "      AllowOrigins: ['*']", "      AllowOrigin: ['*']", `unknown CorsConfiguration property "AllowOrigin"`},
	{"DLQ type", "alipay.yaml", "        Type: SQS\n        TargetArn", "        Type: SQSS\n        TargetArn", `"SQSS" is not an allowed value`},
	{"DependsOn typo", "alipay.yaml", "    Type: AWS::CloudWatch::Alarm\n", "    Type: AWS::CloudWatch::Alarm\n    DependsOn: NotifyFunctionn\n", `DependsOn names "NotifyFunctionn"`},
	{"SAM Ref property typo", "alipay.yaml", "!Ref CreateVoucherFunction.Alias", "!Ref CreateVoucherFunction.Aliass", `no referable property "Aliass"`},
	{"duplicate key", "alipay.yaml", "      CodeUri: functions/notify/\n", "      CodeUri: functions/notify/\n      CodeUri: functions/notify2/\n", `duplicate key "CodeUri"`},
	{"boolean type", "alipay.yaml", "        Enabled: true\n      SSESpecification", "        Enabled: yes please\n      SSESpecification", `expected a boolean`},
	{"GSI key not declared", "alipay.yaml", "            - {AttributeName: gsi1pk, KeyType: HASH}", "            - {AttributeName: gsi2pk, KeyType: HASH}", `key attribute "gsi2pk" is not declared`},
	{"unknown intrinsic", "alipay.yaml", "!Equals [!Ref Stage, prod]", "{'Fn::Equal': [!Ref Stage, prod]}", `unknown intrinsic function "Fn::Equal"`},
}

func loadTestSchemas(t *testing.T) *Schemas {
	t.Helper()
	s, err := Embedded()
	if err != nil {
		t.Fatalf("loading schemas: %v", err)
	}
	return s
}

func findings(t *testing.T, s *Schemas, path string) []Finding {
	t.Helper()
	tpl, err := loadTemplate(path)
	if err != nil {
		return []Finding{{Sev: sevError, Msg: err.Error()}}
	}
	c := newChecker(s, tpl)
	c.run()
	return append(tpl.Errs, c.out...)
}

func TestGoodTemplatesPass(t *testing.T) {
	s := loadTestSchemas(t)
	for _, f := range []string{"payments.yaml", "alipay.yaml"} {
		for _, fd := range findings(t, s, filepath.Join("testdata", f)) {
			t.Errorf("%s: unexpected finding at %s: %s", f, humanPtr(fd.Ptr), fd.Msg)
		}
	}
}

func TestBrokenTemplatesFail(t *testing.T) {
	s := loadTestSchemas(t)
	dir := t.TempDir()
	for _, tc := range brokenCases {
		t.Run(tc.name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(src), tc.old) {
				t.Fatalf("%s does not contain %q", tc.file, tc.old)
			}
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(string(src), tc.old, tc.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			var msgs []string
			found := false
			for _, fd := range findings(t, s, path) {
				msgs = append(msgs, fd.Msg)
				if fd.Sev == sevError && strings.Contains(fd.Msg, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no error containing %q; got %q", tc.want, msgs)
			}
		})
	}
}

func TestYAMLSyntaxError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("Resources:\n  A:\n    Type: AWS::SNS::Topic\n   Bad: [x\n"), 0o644)
	if _, err := loadTemplate(path); err == nil {
		t.Fatal("expected a YAML error")
	}
}

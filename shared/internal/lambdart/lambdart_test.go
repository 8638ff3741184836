package lambdart

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// TestRuntimeLoopWithAwsLambdaGo drives aws-lambda-go's own runtime loop (in process)
// through the stand-in: a reply and a handler error come back as Lambda would see them.
func TestRuntimeLoopWithAwsLambdaGo(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	// Not closed: aws-lambda-go's loop runs until the process exits and exits the process
	// (log.Fatal) when the Runtime API goes away, which would fail the test binary.
	t.Setenv("AWS_LAMBDA_RUNTIME_API", s.Addr())
	os.Unsetenv("_LAMBDA_SERVER_PORT")
	go lambda.Start(func(ctx context.Context, in map[string]string) (map[string]string, error) {
		if in["fail"] != "" {
			return nil, errors.New("handler failed")
		}
		return map[string]string{"echo": in["msg"]}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := s.Invoke(ctx, map[string]string{"msg": "hi"}, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	if err := json.Unmarshal(r.Payload, &out); err != nil || out["echo"] != "hi" {
		t.Fatalf("reply %s err %v", r.Payload, err)
	}
	r, err = s.Invoke(ctx, map[string]string{"fail": "1"}, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Error == nil || r.Error.ErrorMessage != "handler failed" {
		t.Fatalf("want invocation error, got %+v", r)
	}
}

// Command samvalidate checks AWS SAM / CloudFormation templates offline (see package
// tools/samvalidate). Exit status: 0 no errors, 1 errors found (or warnings with
// -strict), 2 cannot run.
//
//	go run ./tools/samvalidate/cmd/samvalidate -strict template.yaml
package main

import (
	"os"

	"github.com/alipay-serverless/alipay-serverless/tools/samvalidate"
)

func main() {
	os.Exit(samvalidate.Main(os.Args[1:], os.Stdout, os.Stderr))
}

//go:build tools

// Package tools pins the versions of modules used only by tests and builds, so
// `go mod tidy` keeps them and every run uses the same ones.
package tools

import (
	_ "github.com/aws/aws-lambda-go/lambda"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	_ "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	_ "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	_ "github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
	_ "github.com/mdp/qrterminal/v3"
	_ "golang.org/x/sync/singleflight"
	_ "golang.org/x/text/encoding/simplifiedchinese"
	_ "gopkg.in/yaml.v3"
)

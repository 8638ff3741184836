package dynalitetest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/alipay-serverless/alipay-serverless/test/harness/testkeys"
)

func TestModuleRootHoldsGoMod(t *testing.T) {
	root, err := testkeys.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("root %s: %v", root, err)
	}
}

func TestServerKeepsDataAcrossRestart(t *testing.T) {
	s := Start(t)
	c := NewClient(t, s.Endpoint())
	ctx := t.Context()
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("items"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	for i := 0; ; i++ { // dynalite activates a new table asynchronously
		out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("items")})
		if err != nil {
			t.Fatalf("DescribeTable: %v", err)
		}
		if out.Table.TableStatus == types.TableStatusActive {
			break
		}
		if i == 200 {
			t.Fatal("table not active after 200 polls")
		}
		time.Sleep(10 * time.Millisecond)
	}
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k"}}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("items"), Item: key}); err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	endpoint := s.Endpoint()

	s.Stop()
	if _, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("items"), Key: key}); err == nil {
		t.Fatal("GetItem succeeded against a stopped server")
	}
	s.Restart()
	if s.Endpoint() != endpoint {
		t.Fatalf("restart moved from %s to %s", endpoint, s.Endpoint())
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("items"), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("after restart: item %v, err %v", out, err)
	}
	s.Stop()
	s.Stop() // idempotent
}

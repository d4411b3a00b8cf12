package submit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/openagents/trust/functions/lambdahttp"
	"github.com/openagents/trust/shared/trust"
)

var update = flag.Bool("update", false, "rewrite the golden responses in testdata/events/golden")

// TestHandler_Events invokes the function as Lambda does, with HTTP API v2
// events from testdata/events, in order (the first submission is sub_000001),
// and compares the answers with golden files. The accepted submission's answer
// depends on the rule packs, so only its status and state are checked.
func TestHandler_Events(t *testing.T) {
	e := MustEnv(t)
	invoke := lambda.NewHandler(lambdahttp.New(e.h).Handle)
	for _, name := range []string{"submit-ok", "submit-no-auth", "submit-not-verified", "submit-path-escape",
		"submit-wrong-type", "view-other-publisher", "view-unknown"} {
		t.Run(name, func(t *testing.T) {
			event, err := os.ReadFile(filepath.Join("testdata/events", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			out, err := invoke.Invoke(context.Background(), event)
			if err != nil {
				t.Fatal(err)
			}
			e.seen.Write(out)
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if name == "submit-ok" {
				var sub trust.Submission
				if resp.StatusCode != 201 || json.Unmarshal([]byte(resp.Body), &sub) != nil || sub.State != trust.SubmissionSigned || sub.ID != "sub_000001" {
					t.Fatalf("answer %d %s", resp.StatusCode, resp.Body)
				}
				return
			}
			got, _ := json.MarshalIndent(resp, "", "  ")
			got = append(got, '\n')
			golden := filepath.Join("testdata/events/golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

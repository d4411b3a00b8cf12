package submit_test

import (
	"net/http"
	"testing"

	"github.com/openagents/trust/functions/pipeline/pipelinetest"
)

// FuzzSubmit sends arbitrary bodies as a verified publisher: the intake never
// answers 5xx, never leaves anything in its temporary directory (checked by
// do), and records a submission only when it answers 2xx.
func FuzzSubmit(f *testing.F) {
	skill := hello(f)
	for _, seed := range [][]byte{
		skill.TarGz(f), skill.Zip(f), nil, []byte("PK\x03\x04"), []byte("\x1f\x8b\x08"),
		pipelinetest.Files{"SKILL.md": skill["SKILL.md"], "../x.sh": "x"}.TarGz(f),
		pipelinetest.Files{"SKILL.md": "---\nname: x\n---\n"}.Zip(f),
	} {
		f.Add(seed)
	}
	e := MustEnv(f)
	e.h.MaxArchiveSize = 64 << 10
	f.Fuzz(func(t *testing.T, body []byte) {
		before := e.cat.Writes("CreateSubmission")
		rec := e.post(t, acmeToken, "", body)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		created := e.cat.Writes("CreateSubmission") > before
		if created && rec.Code != http.StatusCreated && rec.Code != http.StatusAccepted {
			t.Fatalf("recorded a submission but answered %d", rec.Code)
		}
		if rec.Code/100 != 2 && created {
			t.Fatalf("recorded a refused archive: %d", rec.Code)
		}
	})
}

package oci_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/oci"
)

// FuzzLayerContentDigest: any input is refused or digested without panic,
// and a real skill layer gives the folder's content digest.
func FuzzLayerContentDigest(f *testing.F) {
	dir := MustSkill(f, false, 0o644, time.Now())
	layer, want, err := oci.LayerTar(dir)
	if err != nil {
		f.Fatal(err)
	}
	if want2, _ := digest.Content(dir); want2 != want {
		f.Fatalf("LayerTar digest %s, digest.Content %s", want, want2)
	}
	f.Add(layer)
	f.Add(layer[:512])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := oci.LayerContentDigest(bytes.NewReader(b))
		if bytes.Equal(b, layer) && (err != nil || got != want) {
			t.Fatalf("skill layer: got %s, %v, want %s", got, err, want)
		}
	})
}

package oci_test

import (
	"context"
	"testing"
	"time"

	"github.com/openagents/trust/shared/oci"
)

// BenchmarkBuild builds the test skill's image and computes its digest (tar,
// gzip at oci.CompressionLevel, config, manifest). The baseline in the same
// run is BenchmarkLayerTar, the tar alone.
func BenchmarkBuild(b *testing.B) {
	base := MustLoadBase(b)
	dir := MustSkill(b, false, 0o644, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		img, err := oci.Build(context.Background(), base, dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := img.Digest(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLayerTar(b *testing.B) {
	dir := MustSkill(b, false, 0o644, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := oci.LayerTar(dir); err != nil {
			b.Fatal(err)
		}
	}
}

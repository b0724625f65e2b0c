package archive

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The manifest's annotations are what a registry listing shows of an archive; docs/archive-format.md
// lists them among the rules verify checks. One that disagrees with the config is refused.
func TestVerifyRefusesAnnotationsThatDisagreeWithTheConfig(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	createGeneric(t, s, "base", 1000)
	a, err := Load(ctx, s, "base")
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(ann map[string]string){
		"type":         func(ann map[string]string) { ann[AnnotationType] = string(Deployable) },
		"name":         func(ann map[string]string) { ann[AnnotationName] = "other" },
		"created":      func(ann map[string]string) { ann[AnnotationCreated] = time.Unix(1, 0).UTC().Format(time.RFC3339) },
		"missing type": func(ann map[string]string) { delete(ann, AnnotationType) },
	} {
		t.Run(name, func(t *testing.T) {
			m := *a.Manifest
			m.Annotations = map[string]string{}
			for k, v := range a.Manifest.Annotations {
				m.Annotations[k] = v
			}
			edit(m.Annotations)
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			desc, err := pushBytes(ctx, s, m.MediaType, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			desc.ArtifactType = ArtifactType
			if err := s.Tag(ctx, desc, "lying"); err != nil {
				t.Fatal(err)
			}
			_, err = Verify(ctx, s, "lying", VerifyOptions{})
			if err == nil || !strings.Contains(err.Error(), "annotation") {
				t.Fatalf("Verify: %v, want the annotation refused", err)
			}
		})
	}
}

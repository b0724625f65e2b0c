package archive

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	dArchive = digest.FromString("archive layer")
	dConf    = digest.FromString("configuration layer")
	dCluster = digest.FromString("cluster layer")
	dBase    = digest.FromString("base manifest")
)

func genericConfig() *Config {
	return &Config{
		SchemaVersion: ConfigSchemaVersion, Name: "base", Type: Generic, Architecture: "amd64", OS: "linux",
		FlarecastVersion: "test", DiffIDs: map[string]digest.Digest{SectionArchive: digest.FromString("tar")},
		TarSizes: map[string]int64{SectionArchive: 10240},
	}
}

func deployableConfig() *Config {
	c := genericConfig()
	c.Name, c.Type, c.Lineage, c.NodesGroup = "web-prod", Deployable, []digest.Digest{dBase}, "web"
	c.DiffIDs[SectionCluster] = digest.FromString("cluster tar")
	c.TarSizes[SectionCluster] = 4096
	c.SoftwareLoad = &SoftwareLoadDescriptor{Cluster: "prod", Domain: 7, Groups: []GroupLoad{{Name: "web", Archive: dBase, Nodes: []string{"n1"}}}}
	return c
}

func TestConfigRoundTripsThroughItsCanonicalEncoding(t *testing.T) {
	created := time.Unix(1700000000, 0).UTC()
	for name, c := range map[string]*Config{"generic": genericConfig(), "deployable": deployableConfig()} {
		t.Run(name, func(t *testing.T) {
			c.Created = &created
			b, err := EncodeConfig(c)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeConfig(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, c) {
				t.Fatalf("decoded %+v, want %+v", back, c)
			}
			again, _ := EncodeConfig(back)
			if string(again) != string(b) {
				t.Fatalf("encoding is not canonical:\n%s\n%s", b, again)
			}
		})
	}
}

func TestDecodeConfigRefusesBrokenRules(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"unknown schema version", func(c *Config) { c.SchemaVersion = 2 }, "schemaVersion 2"},
		{"no name", func(c *Config) { c.Name = "" }, "no name"},
		{"unknown type", func(c *Config) { c.Type = "Golden" }, "unknown type"},
		{"generic with lineage", func(c *Config) { c.Lineage = []digest.Digest{dBase} }, "not derived"},
		{"configured without lineage", func(c *Config) { c.Type = Configured }, "lineage is empty"},
		{"bad lineage digest", func(c *Config) { c.Type, c.Lineage = Configured, []digest.Digest{"sha256:xyz"} }, "lineage digest"},
		{"no archive diffID", func(c *Config) { delete(c.DiffIDs, SectionArchive) }, "no diffID for the archive"},
		{"unknown section", func(c *Config) { c.DiffIDs["extra"] = dConf }, "unknown section"},
		{"generic with configuration", func(c *Config) { c.DiffIDs[SectionConfiguration] = dConf }, "generic archive has no configuration"},
		{"configured with cluster", func(c *Config) {
			c.Type, c.Lineage, c.DiffIDs[SectionCluster] = Configured, []digest.Digest{dBase}, dCluster
		}, "only a deployable archive has a cluster section"},
		{"generic with a software load", func(c *Config) { c.SoftwareLoad = deployableConfig().SoftwareLoad }, "only a deployable"},
		{"a section without its tar size", func(c *Config) { delete(c.TarSizes, SectionArchive) }, "every section needs both"},
		{"a tar size for a section without a diffID", func(c *Config) {
			delete(c.TarSizes, SectionArchive)
			c.TarSizes[SectionConfiguration] = 2048
		}, "which has no diffID"},
		{"a tar size below an empty tar", func(c *Config) { c.TarSizes[SectionArchive] = 512 }, "less than an empty tar"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := genericConfig()
			tc.mutate(c)
			b, _ := json.Marshal(c)
			_, err := DecodeConfig(b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeConfig: err %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestDecodeConfigRefusesDeployableWithoutItsGroupInTheLoad(t *testing.T) {
	c := deployableConfig()
	c.NodesGroup = "db"
	b, _ := json.Marshal(c)
	if _, err := DecodeConfig(b); err == nil || !strings.Contains(err.Error(), "nodes group db is not in the software-load descriptor") {
		t.Fatalf("err %v", err)
	}
}

func TestDecodeConfigRefusesTrailingData(t *testing.T) {
	b, _ := EncodeConfig(genericConfig())
	if _, err := DecodeConfig(append(b, []byte(`{}`)...)); err == nil {
		t.Fatal("accepted a config followed by a second JSON value")
	}
}

func manifestWith(layers ...ocispec.Descriptor) []byte {
	cfg := genericConfig()
	var secs []Section
	for _, l := range layers {
		name, _, _ := sectionForMediaType(l.MediaType)
		secs = append(secs, Section{Name: name, Descriptor: l})
	}
	b, err := buildManifest(cfg, ocispec.Descriptor{MediaType: MediaTypeConfig, Digest: digest.FromString("c"), Size: 10}, secs)
	if err != nil {
		panic(err)
	}
	return b
}

func layer(mt string, d digest.Digest) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: 100}
}

func TestBuildManifestPutsSectionsInCanonicalOrderWithTitles(t *testing.T) {
	b := manifestWith(layer(MediaTypeClusterLayer, dCluster), layer(MediaTypeArchiveLayer, dArchive), layer(MediaTypeConfigurationLayer, dConf))
	m, err := DecodeManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range m.Layers {
		got = append(got, l.Annotations[AnnotationTitle])
	}
	if want := []string{"archive", "configuration", "cluster"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("layer titles %v, want %v", got, want)
	}
	if m.ArtifactType != ArtifactType || m.Config.MediaType != MediaTypeConfig {
		t.Fatalf("artifactType %q config %q", m.ArtifactType, m.Config.MediaType)
	}
}

func TestDecodeManifestRefusesWhatIsNotAnArchive(t *testing.T) {
	good := manifestWith(layer(MediaTypeArchiveLayer, dArchive), layer(MediaTypeConfigurationLayer, dConf))
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			panic(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	layers := func(m map[string]any) []any { return m["layers"].([]any) }
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"not json", []byte("{"), "decode manifest"},
		{"docker image", edit(func(m map[string]any) { delete(m, "artifactType") }), "artifactType"},
		{"foreign config", edit(func(m map[string]any) {
			m["config"].(map[string]any)["mediaType"] = "application/vnd.oci.image.config.v1+json"
		}), "config mediaType"},
		{"schema 1", edit(func(m map[string]any) { m["schemaVersion"] = 1 }), "not an OCI image manifest"},
		{"no layers", edit(func(m map[string]any) { m["layers"] = []any{} }), "no layers"},
		{"configuration first", edit(func(m map[string]any) { l := layers(m); l[0], l[1] = l[1], l[0] }), "first layer must be the archive"},
		{"repeated section", edit(func(m map[string]any) { m["layers"] = append(layers(m), layers(m)[1]) }), "repeated or out of order"},
		{"foreign layer", edit(func(m map[string]any) {
			layers(m)[1].(map[string]any)["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
		}), "not a flarecast section"},
		{"bad digest", edit(func(m map[string]any) { layers(m)[0].(map[string]any)["digest"] = "sha256:00" }), "digest"},
		{"sha512 digest", edit(func(m map[string]any) {
			layers(m)[0].(map[string]any)["digest"] = digest.SHA512.FromString("x").String()
		}), "only sha256"},
		{"negative size", edit(func(m map[string]any) { layers(m)[0].(map[string]any)["size"] = -1 }), "negative size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeManifest(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeManifest: err %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestCheckConsistentRefusesSectionsWithoutDiffIDs(t *testing.T) {
	m, err := DecodeManifest(manifestWith(layer(MediaTypeArchiveLayer, dArchive), layer(MediaTypeConfigurationLayer, dConf)))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckConsistent(m, genericConfig()); err == nil || !strings.Contains(err.Error(), "diffIDs for [archive]") {
		t.Fatalf("err %v", err)
	}
}

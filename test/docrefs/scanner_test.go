package docrefs

import (
	"strings"
	"testing"
)

// A small docs tree for the scanner's own tests, so they do not depend on the real notes.
var fakeDocs = map[string]string{
	"protocol.md":  "# P\n\n## 2. Request signing\n\n## 8. Notifications\n\n### 8.2 Decoding and verifying\n\n```\n## 9. inside a fence\n```\n",
	"lifecycle.md": "# L\n\n## L0. Source keys\n\n## L4. `alipay.trade.refund` 退款\n\n### L4.2 Reply\n",
	"design.md":    "# D\n\n## Order state and idempotency (today)\n\n## Tests\n\n## Tests\n",
	"seeds.md":     "# S\n\n## Seed 000\n\n## Seed 003\n",
}

func fakeChecker() *checker {
	files := map[string]bool{"README.md": true}
	for name := range fakeDocs {
		files["docs/"+name] = true
	}
	return &checker{
		idx:           indexDocs(fakeDocs),
		exists:        func(p string) bool { return files[p] },
		sharedAllowed: map[string]bool{"allowed.go": true},
	}
}

// outside is a path beside the checkout, spelled in two pieces so that no scan of this
// file's own text mistakes the fixture for a real reference.
const outside = ".." + "/shared/testdata"

func TestScannerReportsDanglingReferences(t *testing.T) {
	cases := []struct {
		name string
		path string
		text string
		want []string // problems expected, as substrings, in order; nil = every ref resolves
		refs int      // references expected in total
	}{
		{"protocol_section_resolves", "a.go", "// verify as §8.2 says; sign (§2)", nil, 2},
		{"protocol_section_with_space_resolves", "a.go", "// see § 8", nil, 1},
		{"dangling_protocol_section", "a.go", "// as §8.9 says", []string{"docs/protocol.md has no section 8.9"}, 1},
		{"dangling_top_section", "a.go", "// §15", []string{"no section 15"}, 1},
		{"heading_inside_code_fence_is_not_a_section", "a.go", "// §9", []string{"no section 9"}, 1},
		{"lifecycle_sections_resolve", "a.go", "// refund (L4), reply L4.2, keys L0.", nil, 3},
		{"dangling_lifecycle_section", "a.go", "// see L4.3 and (L14)", []string{"docs/lifecycle.md has no section L4.3", "no section L14"}, 2},
		{"identifiers_are_not_lifecycle_citations", "a.md", "HL1 cache, L1Cache, xL4, L4x, L4_b, ARM64 L2cache", nil, 0},
		{"go_code_identifiers_are_not_scanned", "a.go", "package a\n\nvar L14 = 1 // fine\n", nil, 0},
		{"go_strings_are_scanned", "a.go", "package a\n\nvar s = \"§77\"\n", []string{"no section 77"}, 1},
		{"docs_file_resolves", "Makefile", "# see docs/design.md", nil, 1},
		{"missing_docs_file", "Makefile", "# see docs/nope.md", []string{"docs/nope.md does not exist"}, 1},
		{"docs_anchor_resolves", "a.go", "// docs/design.md#order-state-and-idempotency-today", nil, 1},
		{"duplicate_heading_anchor_resolves", "a.go", "// docs/design.md#tests-1", nil, 1},
		{"dangling_docs_anchor", "a.go", "// docs/design.md#configuration", []string{"docs/design.md has no heading #configuration"}, 1},
		{"explicit_docs_section_resolves", "openapi.yaml", "# docs/protocol.md §8.2, docs/lifecycle.md L4.2", nil, 2},
		{"dangling_explicit_docs_section", "template.yaml", "# docs/protocol.md §3", []string{"docs/protocol.md has no section 3"}, 1},
		{"section_in_the_wrong_file", "template.yaml", "# docs/design.md §2", []string{"docs/design.md has no section 2"}, 1},
		{"legacy_design_name", "a.go", "// the contract of DESIGN.md", []string{"not in the repository"}, 1},
		{"legacy_design_without_extension", "a.go", "// (DESIGN: idempotency)", []string{"not in the repository"}, 1},
		{"legacy_lifecycle_and_protocol_names", "README.md", "DESIGN-LIFECYCLE.md and ALIPAY_PROTOCOL.md, ALIPAY_LIFECYCLE", []string{"not in the repository", "not in the repository", "not in the repository"}, 3},
		{"legacy_seeds_folder", "a.go", "// the pages in seeds/", []string{"not in the repository"}, 1},
		{"outside_path", "a.go", "// keys in " + outside, []string{"points outside the repository"}, 1},
		{"outside_path_allow_listed", "allowed.go", "// keys in " + outside, nil, 0},
		{"seed_resolves", "a.go", "// seed 003 lower-cased it; Seed 000's table", nil, 2},
		{"dangling_seed", "a.go", "// seed 007", []string{"docs/seeds.md has no section 007"}, 1},
		{"random_seed_is_not_a_citation", "a.go", "// seed := 20250601; seed %d", nil, 0},
		{"markdown_link_resolves", "docs/lifecycle.md", "see [p](protocol.md#8-notifications) and [s](seeds.md)", nil, 2},
		{"markdown_link_dangling_anchor", "docs/lifecycle.md", "see [p](protocol.md#9-codes)", []string{"docs/protocol.md has no heading #9-codes"}, 1},
		{"markdown_link_missing_file", "README.md", "see [x](docs/gone.md)", []string{"docs/gone.md does not exist"}, 1},
		{"other_projects_docs_folder_is_not_ours", "docs/lifecycle.md", "[NET3] `v3/docs/AlipayFundAuthOperationApi.md`", nil, 0},
		{"markdown_link_same_page_anchor", "docs/seeds.md", "see [x](#seed-003) and [y](#seed-009)", []string{"docs/seeds.md has no heading #seed-009"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			refs := fakeChecker().scanFile(tc.path, []byte(tc.text))
			var got []string
			for _, r := range refs {
				if r.problem != "" {
					got = append(got, r.problem)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tc.want[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], tc.want[i])
				}
			}
			if len(refs) != tc.refs {
				t.Errorf("%d references found (%v), want %d", len(refs), refs, tc.refs)
			}
		})
	}
}

func TestAnchorIsGitHubSlug(t *testing.T) {
	cases := map[string]string{
		"Order state and idempotency (today)":                     "order-state-and-idempotency-today",
		"8.2 Decoding and verifying (the Java `rsaCheckV1` rule)": "82-decoding-and-verifying-the-java-rsacheckv1-rule",
		"L4. `alipay.trade.refund` 统一收单交易退款":                      "l4-alipaytraderefund-统一收单交易退款",
		"Seed 003": "seed-003",
	}
	for title, want := range cases {
		if got := anchor(title); got != want {
			t.Errorf("anchor(%q) = %q, want %q", title, got, want)
		}
	}
}

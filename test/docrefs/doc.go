// Package docrefs checks that every citation of the notes in docs/ resolves: a bare `§N`
// names a section of docs/protocol.md, `LN` one of docs/lifecycle.md, "seed 000" one of
// docs/seeds.md, and `docs/<file>.md` (with an optional `#anchor`, `§N` or `LN`) a file and
// heading that exist. Conventions: docs/README.md. It also checks that the README's layout
// table lists every folder of the repository. The package holds only its tests.
package docrefs

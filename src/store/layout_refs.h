/*
 * layout_refs.h - which blobs of an OCI layout anything references, and
 * removing those nothing does (ferry prune; the blobs a failed run added).
 */
#ifndef FERRY_LAYOUT_REFS_H
#define FERRY_LAYOUT_REFS_H

#include "error.h"
#include "strmap.h"

/* Documents followed from index.json at most (manifests and indexes, each read once). */
#define FERRY_REFS_DOCS_MAX 200000

/*
 * Every digest reachable from dir's index.json: the descriptors of index.json
 * and of every manifest and index it leads to (configs, layers, subjects,
 * children), as keys "sha256:<hex>" of refs.  A blob that is missing is not
 * an error; a document that cannot be read or parsed is, and then nothing
 * may be removed.
 */
int ferry_layout_referenced(const char *dir, ferry_strmap *refs, ferry_error *err);

#endif

// Hugging Face: a repo file -> its download URL, SHA-256 and size, using only the hub's public
// HTTP interface (the same requests huggingface_hub makes):
//
//   HEAD {endpoint}/{owner}/{repo}/resolve/{revision}/{file}     redirects not followed
//        X-Linked-Size: <bytes>   X-Linked-Etag: "<sha256>"      (LFS files; ETag as a fallback)
//        a relative Location (a renamed repo) is followed with another HEAD, at most 5 times
//   GET  {endpoint}/{owner}/{repo}/resolve/{revision}/{file}     redirects followed (the CDN)
//   GET  {endpoint}/api/models/{owner}/{repo}                    for OWNER/REPO:QUANT only:
//        {"siblings": [{"rfilename": "..."}]}, the .gguf whose name carries QUANT
//
// With HF_TOKEN set, every request to the endpoint carries "Authorization: Bearer <token>"
// (libcurl drops it when a redirect leaves that host).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/model_ref.h"
#include "store/source.h"

namespace bastion::store {

// The blob's sha256 is "" when the hub sent neither X-Linked-Etag nor a SHA-256 ETag (the caller
// then needs one from the user).
Result<ResolvedBlob> ResolveHuggingFace(const ModelRef& ref, const SourceEndpoints& endpoints,
                                        const FetchOptions& options);

// From the /api/models/{repo} JSON, the single-file .gguf whose name carries `quant` (case
// insensitive, delimited by '-', '.' or '_'). Errors: none (lists what there is), several, or only
// split files ("-00001-of-00002"), which bastion cannot load. File names are checked before use.
Result<std::string> ChooseGgufForQuant(std::string_view api_json, std::string_view quant, const std::string& repo);

// An ETag value ("<hex>", W/"<hex>") -> the lower-case SHA-256 it holds, or "" when it is not one.
std::string Sha256FromEtag(std::string_view etag);

}  // namespace bastion::store

// Codec: zstd compression with a bounded decompressor, and the XXH3-128 digest used to check
// what a remote store returned.
//
// Contract: ZstdDecompress never allocates more than max_bytes (+ one 128 KiB step) for the
// output, whatever the frame header claims; a frame whose declared size exceeds max_bytes is
// rejected before decompressing. Concatenated frames are accepted (as the zstd CLI does).
// Cost: compression ~ hundreds of MB/s at level 3; decompression ~1 GB/s; XXH3 ~10+ GB/s.
// Failure behaviour: garbage, a truncated frame or trailing junk is DataLossError; output over
// max_bytes is OutOfRangeError; a digest mismatch is DataLossError. Nothing throws.
#ifndef TYPECACHE_SRC_STORE_REMOTE_CODEC_H_
#define TYPECACHE_SRC_STORE_REMOTE_CODEC_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace typecache {

// One zstd frame holding `data`, with its content size in the header. Level 1..19.
absl::StatusOr<std::string> ZstdCompress(absl::string_view data, int level = 3);

// The content of `frames`, at most max_bytes long.
absl::StatusOr<std::string> ZstdDecompress(absl::string_view frames, size_t max_bytes);

// Bytes decompressed by ZstdDecompressToBuffer: read-only, movable, freed with it.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  explicit ByteBuffer(std::string bytes);
  ByteBuffer(ByteBuffer&& other) noexcept;
  ByteBuffer& operator=(ByteBuffer&& other) noexcept;
  ~ByteBuffer();
  absl::string_view view() const;
  bool mapped() const { return mapped_ != nullptr; }  // for tests: the large-frame path ran

 private:
  friend absl::StatusOr<ByteBuffer> ZstdDecompressToBuffer(absl::string_view, size_t);
  void Release();
  std::string string_;      // small or unusual frames
  char* mapped_ = nullptr;  // large frames: anonymous pages
  size_t mapped_size_ = 0;  // of the mapping
  size_t size_ = 0;         // of the content, when mapped
};

// What ZstdDecompress returns, with the same checks and errors, for a reader that only reads it.
// A large single frame that declares its size (a pack: megabytes) is decompressed in one call
// straight into anonymous memory the kernel may back with transparent huge pages: no zero-fill
// of a std::string first, and a few hundred page faults fewer per 2 MiB (measured: a cold
// pull's page faults were a fifth of its CPU). Anything else takes ZstdDecompress.
absl::StatusOr<ByteBuffer> ZstdDecompressToBuffer(absl::string_view frames, size_t max_bytes);

// XXH3-128 of `data` as 32 lowercase hex digits (high 64 bits first, as xxhsum -H2 prints).
std::string Xxh3Hex(absl::string_view data);

// The same digest of bytes given in pieces: Xxh3Stream s; s.Update(a); s.Update(b); s.Hex() ==
// Xxh3Hex(a + b), without building a + b (a group digest covers megabytes of rows).
class Xxh3Stream {
 public:
  Xxh3Stream();
  ~Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;
  void Update(absl::string_view bytes);
  std::string Hex() const;

 private:
  void* state_;  // XXH3_state_t, kept out of this header
};

// DataLossError naming `what` unless Xxh3Hex(data) == expected_hex (case-insensitive).
absl::Status CheckXxh3(absl::string_view data, absl::string_view expected_hex,
                       absl::string_view what);

}  // namespace typecache

#endif  // TYPECACHE_SRC_STORE_REMOTE_CODEC_H_

#include "src/store/remote/codec.h"

#include <zstd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace typecache {
namespace {

std::string Sample(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>("typecache"[i % 9] + (i / 997)));
  return s;
}

// A frame without a content size in its header (as a streaming compressor writes it).
std::string FrameWithoutSize(const std::string& data) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress2(c, out.data(), out.size(), data.data(), data.size());
  ZSTD_freeCCtx(c);
  out.resize(n);
  return out;
}

TEST(Codec, RoundTrip) {
  for (size_t n : {0, 1, 1000, 1 << 20}) {
    std::string data = Sample(n);
    auto frame = ZstdCompress(data);
    ASSERT_TRUE(frame.ok()) << frame.status();
    auto back = ZstdDecompress(*frame, n);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, data);
  }
}

TEST(Codec, GarbageIsDataLoss) {
  EXPECT_EQ(ZstdDecompress("", 100).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ZstdDecompress("not a zstd frame at all", 100).status().code(),
            absl::StatusCode::kDataLoss);
  std::string frame = *ZstdCompress(Sample(10000));
  std::string corrupt = frame;
  for (size_t i = 8; i < corrupt.size(); i += 7) corrupt[i] ^= 0x5a;
  EXPECT_EQ(ZstdDecompress(corrupt, 100000).status().code(), absl::StatusCode::kDataLoss);
}

TEST(Codec, TruncatedFrameIsDataLoss) {
  std::string data = Sample(100000);
  for (const std::string& frame : {*ZstdCompress(data), FrameWithoutSize(data)}) {
    for (size_t cut : {frame.size() - 1, frame.size() / 2, size_t{6}}) {
      auto r = ZstdDecompress(frame.substr(0, cut), 1 << 20);
      EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << "cut at " << cut;
    }
  }
}

// The decompression context is kept per thread: a frame that stopped half way (truncated, over
// the limit, corrupt) must leave nothing behind for the next one.
TEST(Codec, EveryFrameStartsAfreshAfterAFailedOne) {
  std::string data = Sample(100000);
  std::string frame = *ZstdCompress(data);
  std::string other = *ZstdCompress(Sample(5000));
  std::string corrupt = frame;
  for (size_t i = 8; i < corrupt.size(); i += 7) corrupt[i] ^= 0x5a;
  for (const std::string& bad : {frame.substr(0, frame.size() / 2), corrupt, frame}) {
    auto failed = ZstdDecompress(bad, bad == frame ? 1000 : 1 << 20);  // frame: over the limit
    EXPECT_FALSE(failed.ok());
    auto next = ZstdDecompress(other, 1 << 20);
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(*next, Sample(5000));
  }
}

TEST(Codec, TrailingJunkIsDataLoss) {
  std::string frame = *ZstdCompress("hello");
  EXPECT_EQ(ZstdDecompress(frame + "junk", 100).status().code(), absl::StatusCode::kDataLoss);
}

TEST(Codec, ConcatenatedFramesAreAccepted) {
  std::string two = *ZstdCompress("hello ") + *ZstdCompress("world");
  EXPECT_EQ(*ZstdDecompress(two, 100), "hello world");
}

TEST(Codec, DeclaredSizeOverTheLimitIsRefusedUpFront) {
  std::string frame = *ZstdCompress(std::string(10 << 20, 'z'));  // 10 MiB -> ~1 KB
  ASSERT_LT(frame.size(), 4096u);
  auto r = ZstdDecompress(frame, 1 << 20);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange) << r.status();
  EXPECT_THAT(std::string(r.status().message()), testing::HasSubstr("declares"));
}

TEST(Codec, UndeclaredSizeStopsAtTheLimit) {
  std::string frame = FrameWithoutSize(std::string(10 << 20, 'z'));
  EXPECT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  auto r = ZstdDecompress(frame, 1 << 20);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange) << r.status();
  EXPECT_EQ(*ZstdDecompress(frame, 10 << 20), std::string(10 << 20, 'z')) << "exactly the limit";
}

TEST(Codec, BadLevel) {
  EXPECT_EQ(ZstdCompress("x", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ZstdCompress("x", 99).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Codec, Xxh3KnownValuesAndCheck) {
  // XXH3-128 of "" (xxHash's own test vector, as xxhsum -H2 prints it).
  EXPECT_EQ(Xxh3Hex(""), "99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(Xxh3Hex("abc").size(), 32u);
  EXPECT_NE(Xxh3Hex("abc"), Xxh3Hex("abd"));
  EXPECT_TRUE(CheckXxh3("abc", Xxh3Hex("abc"), "obj").ok());
  std::string upper = Xxh3Hex("abc");
  for (char& c : upper) c = static_cast<char>(toupper(c));
  EXPECT_TRUE(CheckXxh3("abc", upper, "obj").ok());
  absl::Status bad = CheckXxh3("abd", Xxh3Hex("abc"), "cas/obj");
  EXPECT_EQ(bad.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(bad.message()), testing::HasSubstr("cas/obj"));
}

TEST(Codec, StreamedDigestIsTheDigestOfTheConcatenation) {
  std::string big(300000, 'x');  // past XXH3's internal buffer, in pieces of every size
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7919 % 251);
  Xxh3Stream s;
  for (size_t at = 0, n = 1; at < big.size(); at += n, n = n * 3 % 70001 + 1) {
    s.Update(absl::string_view(big).substr(at, n));
  }
  EXPECT_EQ(s.Hex(), Xxh3Hex(big));
  EXPECT_EQ(Xxh3Stream().Hex(), Xxh3Hex(""));
}

// The buffer variant answers as ZstdDecompress does, and a large frame takes its own path.
TEST(Codec, BufferDecompressionIsZstdDecompress) {
  const size_t big = size_t{6} << 20;  // above the mapping threshold
  std::string data = Sample(big);
  std::string frame = *ZstdCompress(data, 1);
  absl::StatusOr<ByteBuffer> got = ZstdDecompressToBuffer(frame, big);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->mapped()) << "a large frame that declares its size is decoded in one call";
  EXPECT_TRUE(got->view() == data);
  ByteBuffer moved = *std::move(got);
  EXPECT_TRUE(moved.view() == data);
  // Over the limit: refused before decompressing, as ZstdDecompress does.
  EXPECT_EQ(ZstdDecompressToBuffer(frame, big - 1).status().code(), absl::StatusCode::kOutOfRange);
  // Truncated, corrupt, or several frames: the general path's answer.
  for (size_t cut : {frame.size() - 1, frame.size() / 2, size_t{6}}) {
    EXPECT_EQ(ZstdDecompressToBuffer(frame.substr(0, cut), big).status().code(),
              absl::StatusCode::kDataLoss)
        << "cut at " << cut;
  }
  std::string corrupt = frame;
  for (size_t i = 100; i < corrupt.size(); i += 977) corrupt[i] ^= 0x5a;
  EXPECT_EQ(ZstdDecompressToBuffer(corrupt, big).status().code(), absl::StatusCode::kDataLoss);
  std::string two = frame + *ZstdCompress("tail");
  absl::StatusOr<ByteBuffer> both = ZstdDecompressToBuffer(two, big + 4);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_TRUE(both->view() == data + "tail");
  EXPECT_EQ(ZstdDecompressToBuffer(two, big).status().code(), absl::StatusCode::kOutOfRange);
  // Small frames and frames without a size: the general path, same bytes.
  for (const std::string& f : {*ZstdCompress("small"), FrameWithoutSize(data)}) {
    absl::StatusOr<ByteBuffer> b = ZstdDecompressToBuffer(f, big);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_FALSE(b->mapped());
    EXPECT_EQ(std::string(b->view()), *ZstdDecompress(f, big));
  }
  EXPECT_EQ(ZstdDecompressToBuffer("", 10).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace typecache

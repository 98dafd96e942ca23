#include "src/commands/run.h"

#include <string>

#include "gtest/gtest.h"
#include "src/testing/test_util.h"

namespace typecache {
namespace {

TEST(UserFacingPathsTest, GenerationsAndPrivateCopiesAreNamedAsUsersKnowThem) {
  const std::string cache = "/src/.mypy_cache";
  EXPECT_EQ(UserFacingPaths(cache,
                            "cannot open /src/.mypy_cache/.typecache/gens/3.11/"
                            "g00000003/cache.db: disk full"),
            "cannot open /src/.mypy_cache/3.11/cache.db: disk full");
  EXPECT_EQ(UserFacingPaths(cache, "/src/.mypy_cache/.typecache/gens/3.11/g00000003"),
            "/src/.mypy_cache/3.11");
  EXPECT_EQ(UserFacingPaths(cache,
                            "a /src/.mypy_cache/.typecache/gens/3.12/g00000001/cache.3.db"
                            " and /src/.mypy_cache/.typecache/gens/3.11/g00000002/x"),
            "a /src/.mypy_cache/3.12/cache.3.db and /src/.mypy_cache/3.11/x");
  EXPECT_EQ(UserFacingPaths(cache, "in /src/.mypy_cache/.typecache/runs/host-1-ab12/3.11/cache.db"),
            "in /src/.mypy_cache (private copy)/3.11/cache.db");
  // Anything else is left alone.
  EXPECT_EQ(UserFacingPaths(cache, "/src/.mypy_cache/.typecache/gens/3.11/tmp.x/cache.db"),
            "/src/.mypy_cache/.typecache/gens/3.11/tmp.x/cache.db");
  EXPECT_EQ(UserFacingPaths(cache, "/other/.typecache/gens/3.11/g00000003"),
            "/other/.typecache/gens/3.11/g00000003");
  EXPECT_EQ(UserFacingPaths("", "x"), "x");
}

TEST(PublishPolicyTest, NamesRoundTrip) {
  for (PublishPolicy p : {PublishPolicy::kAuto, PublishPolicy::kAlways, PublishPolicy::kNever}) {
    EXPECT_EQ(*ParsePublishPolicy(PublishPolicyName(p)), p);
  }
  EXPECT_FALSE(ParsePublishPolicy("sometimes").ok());
}

}  // namespace
}  // namespace typecache

#include "review/git_commit.hpp"

#include <git2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "shared/error.hpp"

namespace remora {

namespace {

namespace fs = std::filesystem;

template <class T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const { Free(p); }
};
template <class T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Freer<T, Free>>;
using Repo = Owned<git_repository, git_repository_free>;
using Index = Owned<git_index, git_index_free>;
using Tree = Owned<git_tree, git_tree_free>;
using Commit = Owned<git_commit, git_commit_free>;
using Signature = Owned<git_signature, git_signature_free>;

// Throws Error(io) with libgit2's last message unless rc is 0.
void check(int rc, std::string_view what) {
  if (rc == 0) return;
  const git_error* e = git_error_last();
  throw Error(Errc::io, fmt::format("git: {}: {}", what, e && e->message ? e->message : "failed"));
}

Repo open_repo(const fs::path& project) {
  static const int once = git_libgit2_init();
  (void)once;
  git_repository* repo = nullptr;
  if (git_repository_open_ext(&repo, project.c_str(), 0, nullptr) != 0 || git_repository_is_bare(repo)) {
    if (repo) git_repository_free(repo);
    throw Error(Errc::invalid_argument,
                fmt::format("--commit: the project {} is not in a git work tree (git init makes one)", project.string()));
  }
  return Repo(repo);
}

// "Name <email>" as a signature dated now.
Signature signature_of(const std::string& author) {
  auto lt = author.rfind('<');
  auto gt = author.rfind('>');
  std::string name = lt == std::string::npos ? "" : author.substr(0, lt);
  while (!name.empty() && name.back() == ' ') name.pop_back();
  if (lt == std::string::npos || gt == std::string::npos || gt < lt || gt + 1 != author.size() || name.empty())
    throw Error(Errc::invalid_argument, fmt::format("--author '{}' is not of the form 'Name <email>'", author));
  git_signature* sig = nullptr;
  check(git_signature_now(&sig, name.c_str(), author.substr(lt + 1, gt - lt - 1).c_str()), "author");
  return Signature(sig);
}

Signature git_user(git_repository* repo) {
  git_signature* sig = nullptr;
  if (git_signature_default(&sig, repo) != 0) return nullptr;
  return Signature(sig);
}

// remora runs as root; what it writes into a user's repository (objects, refs, the index) must
// be the user's: while it lives, the effective ids are those of the project directory's owner.
class AsOwner {
 public:
  explicit AsOwner(const fs::path& project) {
    struct stat st {};
    if (::geteuid() != 0 || ::stat(project.c_str(), &st) != 0 || st.st_uid == 0) return;
    gid_ = ::getegid();
    if (::setegid(st.st_gid) != 0 || ::seteuid(st.st_uid) != 0) {
      restore();
      throw Error(Errc::io, fmt::format("cannot act as the owner (uid {}) of {}", st.st_uid, project.string()));
    }
    switched_ = true;
  }
  ~AsOwner() {
    if (switched_) restore();
  }
  AsOwner(const AsOwner&) = delete;
  AsOwner& operator=(const AsOwner&) = delete;

 private:
  void restore() const {
    if (::seteuid(0) != 0 || ::setegid(gid_) != 0) std::abort();  // never go on as someone else
  }
  bool switched_ = false;
  gid_t gid_ = 0;
};

// The commit's author: "Name <email>", or git's user when author is empty.
Signature author_of(git_repository* repo, const std::string& author) {
  Signature by = author.empty() ? git_user(repo) : signature_of(author);
  if (!by)
    throw Error(Errc::invalid_argument, "--commit: git has no user.name and user.email for the author; set them "
                                        "(git config user.name ...) or pass --author 'Name <email>'");
  return by;
}

}  // namespace

void check_git_commit(const fs::path& project, const std::string& author) {
  const AsOwner as_owner(project);
  Repo repo = open_repo(project);
  author_of(repo.get(), author);
}

std::optional<std::string> record_git_commit(const fs::path& project, const std::vector<CommitFile>& files,
                                      const std::string& message, const std::string& author) {
  const AsOwner as_owner(project);
  Repo repo = open_repo(project);
  const fs::path workdir = fs::canonical(git_repository_workdir(repo.get()));
  const fs::path prefix = fs::canonical(project).lexically_relative(workdir);
  auto in_repo = [&](const std::string& path) {
    return (prefix == "." ? fs::path(path) : prefix / path).generic_string();
  };

  Signature user = git_user(repo.get());
  Signature by = author_of(repo.get(), author);

  Commit head;
  Tree head_tree;
  if (git_repository_head_unborn(repo.get()) != 1) {
    git_oid oid;
    check(git_reference_name_to_id(&oid, repo.get(), "HEAD"), "HEAD");
    git_commit* c = nullptr;
    check(git_commit_lookup(&c, repo.get(), &oid), "HEAD's commit");
    head.reset(c);
    git_tree* t = nullptr;
    check(git_commit_tree(&t, c), "HEAD's tree");
    head_tree.reset(t);
  }

  // HEAD's tree with the accepted files replaced, in an index of its own.
  git_index* raw = nullptr;
  check(git_index_new(&raw), "index");
  Index index(raw);
  if (head_tree) check(git_index_read_tree(index.get(), head_tree.get()), "reading HEAD's tree");
  for (const auto& f : files) {
    const auto path = in_repo(f.path);
    if (!f.content) {
      git_index_remove(index.get(), path.c_str(), 0);  // absent from HEAD is fine
      continue;
    }
    git_index_entry e{};
    e.path = path.c_str();
    e.mode = (f.content->mode & 0111) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
    check(git_blob_create_from_buffer(&e.id, repo.get(), f.content->content.data(), f.content->content.size()), path);
    check(git_index_add(index.get(), &e), path);
  }
  git_oid tree_oid;
  check(git_index_write_tree_to(&tree_oid, index.get(), repo.get()), "writing the tree");
  if (head_tree && git_oid_equal(&tree_oid, git_tree_id(head_tree.get()))) return std::nullopt;
  git_tree* t = nullptr;
  check(git_tree_lookup(&t, repo.get(), &tree_oid), "the new tree");
  Tree tree(t);

  git_oid commit_oid;
  const git_commit* parents[] = {head.get()};
  check(git_commit_create(&commit_oid, repo.get(), "HEAD", by.get(), user ? user.get() : by.get(), nullptr,
                          message.c_str(), tree.get(), head ? 1 : 0, parents),
        "creating the commit");

  // The repository's index now agrees with the commit for these files.
  git_index* repo_raw = nullptr;
  check(git_repository_index(&repo_raw, repo.get()), "the repository's index");
  Index repo_index(repo_raw);
  for (const auto& f : files) {
    const auto path = in_repo(f.path);
    if (f.content)
      check(git_index_add_bypath(repo_index.get(), path.c_str()), "staging " + path);
    else
      git_index_remove_bypath(repo_index.get(), path.c_str());
  }
  check(git_index_write(repo_index.get()), "writing the index");

  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof hex, &commit_oid);
  return std::string(hex);
}

}  // namespace remora

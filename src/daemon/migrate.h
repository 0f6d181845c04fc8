// `privcastd migrate --from sqlite:PATH --to etcd://h1:2379,...` (docs/cluster.md):
// copies a single host's state from its SQLite store into an empty etcd cluster, so the host
// can restart with `--store etcd://...` and keep its id, apps, machines and addresses.
//
// The source is opened read-only in spirit (nothing is written to it); the daemon must be
// stopped (the data dir's lock is taken). Keys keep their values; revisions are etcd's own
// (nothing in a record refers to a revision). "/local/" keys go to the data dir's local
// namespace (daemon/store_open.h). The target must hold no key yet: merging two hosts'
// independent state (two "personal" orgs, overlapping addresses) is not a migration. Writes
// are Txns of at most 100 puts, each compared absent. Runs on the calling thread.
#pragma once

namespace privcast::daemon {

// argv[0] is "migrate". Returns the process exit code (0 ok, 1 failure, 2 usage).
int RunMigrate(int argc, char** argv);

}  // namespace privcast::daemon

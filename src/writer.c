/*
 * The parallel HDF5 results file. Everything that can fail on one rank
 * alone (creating the layout, checking a file to resume, the run record)
 * is done serially by rank 0 (results_file.h), under the output lock, and
 * agreed on before the ranks meet in a collective. The parallel handle
 * only overwrites preallocated raw data, so its collectives are agreed on
 * one by one. A new layout is built under "OUT.part" and renamed into
 * place once complete: a kill during creation leaves no stub at OUT.
 */
#include "kpsweep/writer.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "check.h"
#include "h5util.h"
#include "kpsweep/agree.h"
#include "kpsweep/lock.h"
#include "kpsweep/progress.h"
#include "results_file.h"

/* Metadata beyond the raw data in the estimate of a file's size: a fixed
 * part, per dataset, and per chunk (B-tree entries), generous by design. */
#define FILE_FIXED_BYTES (512.0 * 1024)
#define FILE_DATASET_BYTES 8192.0
#define FILE_CHUNK_BYTES 96.0
/* Symbolic links followed at the output path, as many as Linux follows. */
#define LINK_HOPS 40
/* The longest path MPI-IO opens safely. Open MPI 4's shared-file-pointer
 * component sprintf()s the path and a suffix into 256 bytes (an abort
 * from 245 characters on) and names a file after its last component. */
#ifdef OPEN_MPI
#define MPIO_PATH_MAX 230
#else
#define MPIO_PATH_MAX (KPS_PATH_MAX - 16)
#endif
/* The longest last component: room for ".part" and ".lock" within NAME_MAX. */
#define NAME_ROOM (NAME_MAX - 5)
/* One H5Dwrite of a box costs about as much as HDF5's mapping of this many
 * values one by one: 5-13 us a call, 35 ns a value (HDF5 1.10.8, the same
 * writes both ways on 3 and 17 ranks; docs/scaling.md). */
#define BOX_CALL_VALUES 256
/* Values of -1 per box at most when the writers fill /points/status. */
#define FILL_BLOCK_VALUES ((size_t)1 << 24)

struct kps_writer {
  MPI_Comm comm;
  int rank;
  char path[KPS_PATH_MAX];
  kps_lock *lock;               /* rank 0: held from open to close */
  hid_t file;
  int mpio;                     /* opened with MPI-IO (several writers), not POSIX */
  int whole;                    /* every field filled at creation (run.fill: all) */
  hid_t dset[KPS_N_FIELDS];
  hid_t done;
  int nd_line;                  /* rank of the line space: axes + L2 */
  hsize_t ldims[KPS_MAX_AXES + 2];
  kps_dims dims;                /* the trailing dimensions of the fields */
  uint64_t n_lines;
  /* A new file created on a thread of its own (kps_writer_open_async). */
  const kps_config *cfg;
  int run_ranks;
  int creating;                 /* the thread was started and is not joined yet */
  pthread_t creator;
  atomic_int created;           /* the thread is done */
  kps_err create_rc;
  int opened;                   /* it opened the file too (open_rc) */
  kps_err open_rc;
  double create_s;              /* its time in HDF5 */
  kps_write_counts counts;      /* its writes with rows, their boxes and calls */
};

int kps_writer_fills_whole(const kps_config *cfg) {
  if (cfg->run.fill != KPS_FILL_AUTO) return cfg->run.fill == KPS_FILL_ALL;
  return cfg->run.compression != KPS_COMPRESS_NONE ||
         kps_writer_file_bytes(cfg) <= KPS_FILL_ALL_MAX_BYTES;
}

double kps_writer_file_bytes(const kps_config *cfg) {
  const kps_field_info *fi = kps_fields();
  double bytes = FILE_FIXED_BYTES + 2.0 * (double)strlen(cfg->text);
  char *canon = kps_config_canonical(cfg);
  if (canon) bytes += (double)strlen(canon);
  free(canon);
  for (size_t a = 0; a < cfg->n_axes; ++a) bytes += 16.0 * (double)cfg->axes[a].n;
  const kps_dims d = kps_config_dims(cfg);
  bytes += 16.0 * (double)(cfg->L2.n + d.n_tau + d.n_bins + d.n_ligands + 2 * d.n_land);
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    if (!kps_field_kept(&d, f)) continue;
    hsize_t dims[KPS_FIELD_MAX_RANK];
    int nd = 0;
    kps_field_dims(cfg, &fi[f], &nd, dims);
    hsize_t chunk[KPS_FIELD_MAX_RANK];
    kps_chunk_shape(nd, dims, chunk);
    /* Chunks are allocated whole, also where they overhang the extent. */
    double chunks = 1.0, per_chunk = 1.0;
    for (int k = 0; k < nd; ++k) {
      chunks *= ceil((double)dims[k] / (double)chunk[k]);
      per_chunk *= (double)chunk[k];
    }
    const double size = fi[f].type == KPS_F64 ? 8.0 : fi[f].type == KPS_I32 ? 4.0 : 1.0;
    bytes += chunks * (per_chunk * size + FILE_CHUNK_BYTES) + FILE_DATASET_BYTES;
  }
  return bytes + (double)kps_config_n_lines(cfg) + FILE_DATASET_BYTES;
}

/* The directory that will hold path: its parent, or the nearest existing
 * ancestor when that does not exist yet. */
static void existing_dir(const char *path, char *dir, size_t n) {
  snprintf(dir, n, "%s", path);
  for (;;) {
    char *slash = strrchr(dir, '/');
    if (!slash) {
      snprintf(dir, n, ".");
      return;
    }
    if (slash == dir) {
      dir[1] = '\0';
      return;
    }
    *slash = '\0';
    struct stat st;
    if (stat(dir, &st) == 0) return;
  }
}

kps_err kps_writer_path_check(const char *path, int report) {
  const char *slash = strrchr(path, '/');
  const size_t len = strlen(path), base = strlen(slash ? slash + 1 : path);
  if (len <= MPIO_PATH_MAX && base <= NAME_ROOM) return KPS_OK;
  if (report && len > MPIO_PATH_MAX)
    fprintf(stderr,
            "kpsweep: error: the output path has %zu characters, more than the %d MPI-IO can "
            "open; nothing was changed. Give a shorter path: a relative one, or one through a "
            "shorter symbolic link to its directory.\n", len, MPIO_PATH_MAX);
  else if (report)
    fprintf(stderr,
            "kpsweep: error: the output file name has %zu characters, more than the %d that "
            "leave room for its .part and .lock files; nothing was changed. Give a shorter name.\n",
            base, NAME_ROOM);
  return KPS_ERR_USAGE;
}

kps_err kps_writer_space_check(const kps_config *cfg, const char *path, double *need,
                               double *avail) {
  char dir[KPS_PATH_MAX];
  struct statvfs vfs;
  existing_dir(path, dir, sizeof dir);
  *need = kps_writer_file_bytes(cfg);
  *avail = -1.0;
  if (statvfs(dir, &vfs) != 0) return KPS_OK; /* unknown: the creation will tell */
  *avail = (double)vfs.f_bavail * (double)vfs.f_frsize;
  return *need > *avail ? KPS_ERR_LIMIT : KPS_OK;
}

/* Creates the parent directories of path (mkdir -p). Not collective. */
static kps_err make_parent(const char *path) {
  kps_err rc = KPS_OK;
  char dir[KPS_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return KPS_OK;
  *slash = '\0';
  for (char *c = dir + 1;; ++c) {
    if (*c != '/' && *c != '\0') continue;
    const char keep = *c;
    *c = '\0';
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
      KPS_FAIL(KPS_ERR_IO, "cannot create directory %s: %s", dir, strerror(errno));
    *c = keep;
    if (!keep) break;
  }
cleanup:
  return rc;
}

/*
 * Follows a symbolic link at path, and any link it leads to, in place: the
 * lock, the .part and the rename then act on the file that holds the data,
 * so a run through a link and one through the file's own name exclude each
 * other, and --force replaces the file rather than the link. A dangling
 * link gives the path of the file it names. Not collective.
 */
static kps_err follow_links(char *path, size_t n) {
  kps_err rc = KPS_OK;
  char target[KPS_PATH_MAX], joined[KPS_PATH_MAX];
  for (int hop = 0; hop < LINK_HOPS; ++hop) {
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode)) return KPS_OK;
    const ssize_t len = readlink(path, target, sizeof target);
    if (len < 0)
      KPS_FAIL(KPS_ERR_IO, "cannot read the symbolic link %s: %s", path, strerror(errno));
    if ((size_t)len >= sizeof target)
      KPS_FAIL(KPS_ERR_USAGE, "the symbolic link %s leads to a path that is too long", path);
    target[len] = '\0';
    /* A relative target is relative to the link's directory. */
    const char *slash = strrchr(path, '/');
    const int need = target[0] == '/' || !slash
                         ? snprintf(joined, sizeof joined, "%s", target)
                         : snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - path), path,
                                    target);
    if (need < 0 || (size_t)need >= sizeof joined || (size_t)need >= n)
      KPS_FAIL(KPS_ERR_USAGE, "the symbolic link %s leads to a path that is too long", path);
    memcpy(path, joined, (size_t)need + 1);
  }
  KPS_FAIL(KPS_ERR_USAGE, "%s: too many levels of symbolic links", path);
cleanup:
  return rc;
}

/* Makes a completed file durable before it is renamed into place. */
static kps_err sync_file(const char *path) {
  kps_err rc = KPS_OK;
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0)
    KPS_FAIL(KPS_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
cleanup:
  if (fd >= 0) close(fd);
  return rc;
}

/* PATH.part, for the new layout of path. */
static kps_err part_path(const char *path, char *part, size_t n) {
  kps_err rc = KPS_OK;
  if (snprintf(part, n, "%s.part", path) >= (int)n) KPS_FAIL(KPS_ERR_IO, "path too long: %s", path);
cleanup:
  return rc;
}

/* The first step of a creation, in the caller's thread: PATH.part made
 * empty and its disk space claimed. */
static kps_err begin_file(const kps_config *cfg, const char *path) {
  kps_err rc = KPS_OK;
  char part[KPS_PATH_MAX + 8];
  double need = 0.0, avail = 0.0;
  KPS_CHECK(part_path(path, part, sizeof part));
  KPS_CHECK(make_parent(path));
  /* A .part file is only ever written under the lock we hold: a leftover
   * is from a killed creation. */
  if (unlink(part) != 0 && errno != ENOENT)
    KPS_FAIL(KPS_ERR_IO, "cannot remove %s, in the way of a new results file: %s", part,
             strerror(errno));
  if (kps_writer_space_check(cfg, path, &need, &avail) != KPS_OK) {
    rc = KPS_ERR_IO;
    fprintf(stderr,
            "kpsweep: error: %s needs about %.3g MB but its file system has %.3g MB free; "
            "nothing was written. Free space, choose another -o, or shrink the axes.\n",
            path, need / 1e6, avail / 1e6);
    goto cleanup;
  }
  KPS_CHECK(kps_file_create_empty(part, need));
cleanup:
  if (rc != KPS_OK) unlink(part);
  return rc;
}

/* The rest, which may run on a thread of its own (it calls no MPI): the
 * layout under PATH.part, synced, renamed to path. */
static kps_err finish_file(const kps_config *cfg, const char *path, int n_ranks) {
  kps_err rc = KPS_OK;
  char part[KPS_PATH_MAX + 8];
  KPS_CHECK(part_path(path, part, sizeof part));
  KPS_CHECK(kps_file_create_layout(cfg, part, n_ranks, kps_writer_fills_whole(cfg)));
  KPS_CHECK(sync_file(part));
  if (rename(part, path) != 0)
    KPS_FAIL(KPS_ERR_IO, "cannot rename %s to %s: %s", part, path, strerror(errno));
  /* The new name must reach the disk too: after a crash that lost it, the
   * next run would remove the .part, checkpoints and all. Best effort:
   * some file systems cannot sync a directory. */
  char dir[KPS_PATH_MAX];
  existing_dir(path, dir, sizeof dir);
  const int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
cleanup:
  if (rc != KPS_OK) unlink(part);
  return rc;
}

/* Removes PATH.part when it is a file, before a resume: one is only ever
 * written under the lock, so it is left by a killed creation, and one
 * killed under --force (the file it was to replace still at path, resumed
 * from then on) would hold its disk space for good. Not collective. */
static void remove_stale_part(const char *path) {
  char part[KPS_PATH_MAX + 8];
  struct stat st;
  if (snprintf(part, sizeof part, "%s.part", path) < (int)sizeof part && lstat(part, &st) == 0 &&
      !S_ISDIR(st.st_mode))
    unlink(part);
}

/*
 * Rank 0's part of the open: lock, check or create (with defer, a new
 * file is only to be created: *defer = 1). Reads the progress map of a
 * resumed file into bits. Not collective.
 */
static kps_err prepare_file(kps_writer *w, const kps_config *cfg, kps_open_mode mode,
                            int run_ranks, uint8_t *bits, int *resumed, int *defer) {
  kps_err rc = KPS_OK;
  struct stat st;
  *resumed = 0;
  KPS_CHECK(follow_links(w->path, sizeof w->path));
  KPS_CHECK(kps_writer_path_check(w->path, 1));
  KPS_CHECK(make_parent(w->path));
  KPS_CHECK(kps_lock_acquire(w->path, &w->lock));
  const int exists = stat(w->path, &st) == 0;
  if (exists && S_ISDIR(st.st_mode))
    KPS_FAIL(KPS_ERR_USAGE, "%s is a directory; give a file name with -o", w->path);
  /* Reading a pipe would wait for a writer for ever, and the rename of a
   * new layout would replace a device node (-o /dev/null --force as root). */
  if (exists && !S_ISREG(st.st_mode))
    KPS_FAIL(KPS_ERR_USAGE, "%s is not a regular file (a device, a pipe or a socket); nothing "
             "was changed: give the name of a results file with -o", w->path);
  kps_file_kind kind = KPS_FILE_RESULTS;
  if (exists && mode != KPS_OPEN_FORCE) {
    if (mode == KPS_OPEN_NEW) {
      /* Only an empty stub of an interrupted creation may go without --force. */
      if (kps_file_check(cfg, w->path, bits, &kind, 0) != KPS_OK || kind != KPS_FILE_STUB) {
        rc = KPS_ERR_EXISTS;
        fprintf(stderr,
                "kpsweep: error: %s already exists; nothing was changed. Use --resume to "
                "continue it, --force to replace it, or -o for another file.\n", w->path);
        goto cleanup;
      }
    } else {
      KPS_CHECK(kps_file_check(cfg, w->path, bits, &kind, 1));
    }
  }
  if (exists && kind == KPS_FILE_RESULTS && mode == KPS_OPEN_RESUME) {
    /* Found now rather than by MPI-IO's open on every rank. */
    const int fd = open(w->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      rc = KPS_ERR_MISMATCH;
      fprintf(stderr, "kpsweep: error: %s cannot be written: %s; nothing was changed.\n",
              w->path, strerror(errno));
      goto cleanup;
    }
    close(fd);
    remove_stale_part(w->path);
    *resumed = 1;
  } else {
    if (bits) memset(bits, 0, (kps_config_n_lines(cfg) + 7) / 8);
    KPS_CHECK(begin_file(cfg, w->path));
    if (defer) *defer = 1;
    else KPS_CHECK(finish_file(cfg, w->path, run_ranks));
  }
cleanup:
  return rc;
}

/* Opens the prepared file and its datasets, with MPI-IO when w->mpio
 * (collective over w->comm), else with the POSIX driver: an MPI-IO open
 * and its collective calls cost milliseconds a lone writer has no use for.
 * Without MPI-IO it calls no MPI (the creator thread may call it). */
static kps_err open_handles(kps_writer *w) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID;
  w->whole = 1;
  KPS_CHECK_H5_ID(fapl, w->mpio ? kps_parallel_fapl(w->comm) : kps_serial_fapl());
  /* No raw-data chunk cache (parallel HDF5 has none): every write reaches
   * the file in its call, so the data of a line is there before the
   * progress map marks it done, as with MPI-IO. */
  if (!w->mpio) {
    int mdc = 0;
    size_t slots = 0, bytes = 0;
    double w0 = 0.0;
    KPS_CHECK_H5(H5Pget_cache(fapl, &mdc, &slots, &bytes, &w0));
    KPS_CHECK_H5(H5Pset_cache(fapl, mdc, slots, 0, w0));
  }
  /* Nor HDF5's file lock, which MPI-IO does not take either: readers
   * (inspect, a script) may look at a running file; writers are kept out
   * by our own lock. */
  if (!w->mpio) KPS_CHECK_H5(H5Pset_file_locking(fapl, 0, 1));
  KPS_CHECK_H5_ID(w->file, H5Fopen(w->path, H5F_ACC_RDWR, fapl));
  const kps_field_info *fi = kps_fields();
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    if (!kps_field_kept(&w->dims, f)) continue;
    char name[128];
    snprintf(name, sizeof name, "/%s/%s", fi[f].scope == KPS_POINT ? "points" : "lines",
             fi[f].name);
    KPS_CHECK_H5_ID(w->dset[f], H5Dopen2(w->file, name, H5P_DEFAULT));
  }
  KPS_CHECK_H5_ID(w->done, H5Dopen2(w->file, "/progress/line_done", H5P_DEFAULT));
  int never = 0;
  KPS_CHECK(kps_h5_never_filled(w->dset[F_STATUS], &never));
  w->whole = !never;
cleanup:
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}

/* Every rank of w->comm opens the prepared file (MPI-IO when there are
 * several). Collective. */
static kps_err open_parallel(kps_writer *w) {
  kps_err rc = KPS_OK;
  int size = 1;
  KPS_CHECK_MPI(MPI_Comm_size(w->comm, &size));
  w->mpio = size > 1;
  rc = open_handles(w);
cleanup:
  return rc;
}

/* Closes the datasets' handles; 0 when HDF5 reported a failure. */
static int close_datasets(kps_writer *w) {
  int ok = 1;
  for (int f = 0; f < KPS_N_FIELDS; ++f)
    if (w->dset[f] >= 0) ok &= H5Dclose(w->dset[f]) >= 0, w->dset[f] = H5I_INVALID_HID;
  if (w->done >= 0) ok &= H5Dclose(w->done) >= 0, w->done = H5I_INVALID_HID;
  return ok;
}

/* Closes the parallel handle; 0 when HDF5 reported a failure. Collective. */
static int close_parallel(kps_writer *w) {
  int ok = close_datasets(w);
  if (w->file >= 0) ok &= H5Fclose(w->file) >= 0, w->file = H5I_INVALID_HID;
  return ok;
}

static void writer_free(kps_writer *w) {
  if (w->creating) pthread_join(w->creator, NULL);
  kps_lock_release(&w->lock);
  free(w);
}

/* The creator thread: the new file's layout under PATH.part, renamed, and
 * opened (a lone writer's POSIX open calls no MPI): the main thread then
 * only joins it. */
static void *create_main(void *arg) {
  kps_writer *w = arg;
  const double t0 = kps_now();
  w->create_rc = finish_file(w->cfg, w->path, w->run_ranks);
  if (w->create_rc == KPS_OK) {
    w->mpio = 0;
    w->open_rc = open_handles(w);
    w->opened = 1;
  }
  w->create_s = kps_now() - t0;
  atomic_store(&w->created, 1);
  return NULL;
}

/* Starts the creator thread, with every signal blocked there (the stop
 * signals are the main thread's); 0 when no thread could be started. */
static int start_creator(kps_writer *w) {
  sigset_t all, old;
  sigfillset(&all);
  if (pthread_sigmask(SIG_BLOCK, &all, &old) != 0) return 0;
  atomic_store(&w->created, 0);
  const int ok = pthread_create(&w->creator, NULL, create_main, w) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  w->creating = ok;
  return ok;
}

static kps_err fill_status(kps_writer *w);

/* After prepare_file: every writer opens the file, and marks the points
 * of a run.fill: status file not computed. Collective. */
static kps_err open_prepared(kps_writer *w, const char *path) {
  kps_err rc = KPS_OK, agreed = KPS_OK;
  /* Rank 0 followed any symbolic link at path. */
  KPS_CHECK_MPI(MPI_Bcast(w->path, (int)sizeof w->path, MPI_CHAR, 0, w->comm));
  KPS_CHECK(kps_agree(w->comm, w->opened ? w->open_rc : open_parallel(w), &agreed));
  if (agreed != KPS_OK) {
    rc = agreed;
    if (w->rank == 0)
      fprintf(stderr, "kpsweep: error: %s could not be opened for parallel writing\n", path);
    goto cleanup;
  }
  /* The file says how it was filled (a resume follows it, whatever the
   * job says now): status fill time "never" is run.fill: status. */
  if (!w->whole) KPS_CHECK(fill_status(w));
cleanup:
  return rc;
}

static kps_err writer_open(const kps_config *cfg, const char *path, kps_open_mode mode,
                           MPI_Comm comm, int run_ranks, uint8_t *done_bits, int async,
                           kps_writer **out, int *resumed) {
  kps_err rc = KPS_OK, agreed = KPS_OK, local = KPS_OK;
  int rank = 0, size = 1, was_resumed = 0, defer = 0, level = MPI_THREAD_SINGLE;
  kps_writer *w = NULL;
  *out = NULL;
  *resumed = 0;
  KPS_CHECK_MPI(MPI_Comm_rank(comm, &rank));
  KPS_CHECK_MPI(MPI_Comm_size(comm, &size));
  KPS_CHECK_MPI(MPI_Query_thread(&level));
  /* A thread that calls no MPI needs MPI_THREAD_FUNNELED. */
  async = async && size == 1 && level >= MPI_THREAD_FUNNELED;
  w = calloc(1, sizeof *w);
  if (!w) {
    local = KPS_ERR_NOMEM;
  } else {
    w->comm = comm;
    w->rank = rank;
    w->file = w->done = H5I_INVALID_HID;
    for (int f = 0; f < KPS_N_FIELDS; ++f) w->dset[f] = H5I_INVALID_HID;
    w->nd_line = (int)cfg->n_axes + 1;
    for (size_t a = 0; a < cfg->n_axes; ++a) w->ldims[a] = cfg->axes[a].n;
    w->ldims[cfg->n_axes] = cfg->L2.n;
    w->dims = kps_config_dims(cfg);
    w->n_lines = kps_config_n_lines(cfg);
    w->cfg = cfg;
    w->run_ranks = run_ranks > size ? run_ranks : size;
    if (snprintf(w->path, sizeof w->path, "%s", path) >= (int)sizeof w->path) {
      local = KPS_ERR_IO;
      if (rank == 0) fprintf(stderr, "kpsweep: error: output path too long: %s\n", path);
    }
  }
  /* Rank 0 works alone; the others wait for its verdict without a core. */
  if (local == KPS_OK && rank == 0)
    local = prepare_file(w, cfg, mode, w->run_ranks, done_bits, &was_resumed,
                         async ? &defer : NULL);
  KPS_CHECK(kps_agree(comm, local, &agreed));
  if (agreed != KPS_OK) {
    rc = agreed;
    goto cleanup;
  }
  /* A lone writer's new file is created alongside; kps_writer_finish opens it. */
  if (defer && start_creator(w)) {
    *out = w;
    w = NULL;
    goto cleanup;
  }
  if (defer) KPS_CHECK(finish_file(cfg, w->path, w->run_ranks));
  KPS_CHECK_MPI(MPI_Bcast(&was_resumed, 1, MPI_INT, 0, comm));
  KPS_CHECK(open_prepared(w, path));
  *resumed = was_resumed;
  *out = w;
  w = NULL;
cleanup:
  if (w) {
    close_parallel(w);
    writer_free(w);
  }
  return rc;
}

kps_err kps_writer_open(const kps_config *cfg, const char *path, kps_open_mode mode,
                        MPI_Comm comm, int run_ranks, uint8_t *done_bits, kps_writer **out,
                        int *resumed) {
  return writer_open(cfg, path, mode, comm, run_ranks, done_bits, 0, out, resumed);
}

kps_err kps_writer_open_async(const kps_config *cfg, const char *path, kps_open_mode mode,
                              MPI_Comm comm, int run_ranks, uint8_t *done_bits, kps_writer **out,
                              int *resumed) {
  return writer_open(cfg, path, mode, comm, run_ranks, done_bits, 1, out, resumed);
}

void kps_writer_join(kps_writer *w) {
  if (!w || !w->creating) return;
  pthread_join(w->creator, NULL);
  w->creating = 0;
}

int kps_writer_ready(const kps_writer *w) {
  return !w->creating || atomic_load(&((kps_writer *)w)->created);
}

kps_err kps_writer_finish(kps_writer *w, double *hdf5_s) {
  kps_err rc = KPS_OK;
  *hdf5_s = 0.0;
  if (!w->creating) return KPS_OK;
  pthread_join(w->creator, NULL);
  w->creating = 0;
  *hdf5_s = w->create_s;
  KPS_CHECK(w->create_rc);
  const double t0 = kps_now();
  rc = open_prepared(w, w->path);
  *hdf5_s += kps_now() - t0;
cleanup:
  return rc;
}

/* Hyperslab boxes of a selection, built before they are combined. */
typedef struct box_list {
  int nd;        /* dimensions per box */
  size_t n, cap;
  hsize_t *start, *count;
  size_t *row;   /* the batch row of each box's first line */
} box_list;

static void box_free(box_list *bl) {
  free(bl->start);
  free(bl->count);
  free(bl->row);
}

static kps_err box_push(box_list *bl, const hsize_t *start, const hsize_t *count, size_t row) {
  kps_err rc = KPS_OK;
  if (bl->n == bl->cap) {
    size_t cap = bl->cap ? 2 * bl->cap : 16;
    hsize_t *s2 = realloc(bl->start, sizeof(hsize_t) * cap * (size_t)bl->nd);
    KPS_CHECK_ALLOC(s2);
    bl->start = s2;
    hsize_t *c2 = realloc(bl->count, sizeof(hsize_t) * cap * (size_t)bl->nd);
    KPS_CHECK_ALLOC(c2);
    bl->count = c2;
    size_t *r2 = realloc(bl->row, sizeof(size_t) * cap);
    KPS_CHECK_ALLOC(r2);
    bl->row = r2;
    bl->cap = cap;
  }
  bl->row[bl->n] = row;
  memcpy(bl->start + bl->n * (size_t)bl->nd, start, sizeof(hsize_t) * (size_t)bl->nd);
  memcpy(bl->count + bl->n * (size_t)bl->nd, count, sizeof(hsize_t) * (size_t)bl->nd);
  ++bl->n;
cleanup:
  return rc;
}

/*
 * Boxes of the lines [a, b) (consecutive ids, held from batch row `row`
 * on): each box is aligned to the largest block of lines over the inner
 * dimensions that fits, so a run costs at most a few boxes per dimension.
 * In row-major order a box's lines are consecutive ids, so its values are
 * one contiguous slice of the batch.
 */
static kps_err run_boxes(const kps_writer *w, uint64_t a, uint64_t b, size_t row, int n_trail,
                         const size_t *trail, box_list *bl) {
  kps_err rc = KPS_OK;
  const int nd = w->nd_line;
  uint64_t stride[KPS_MAX_AXES + 2];
  stride[nd - 1] = 1;
  for (int d = nd - 2; d >= 0; --d) stride[d] = stride[d + 1] * w->ldims[d + 1];
  while (a < b) {
    int d = 0;
    while (d < nd - 1 && (a % stride[d] != 0 || a + stride[d] > b)) ++d;
    const uint64_t pos = (a / stride[d]) % w->ldims[d];
    uint64_t c = (b - a) / stride[d];
    if (c > w->ldims[d] - pos) c = w->ldims[d] - pos;
    hsize_t start[KPS_FIELD_MAX_RANK], count[KPS_FIELD_MAX_RANK];
    uint64_t id = a;
    for (int k = nd - 1; k >= 0; --k) {
      start[k] = id % w->ldims[k];
      id /= w->ldims[k];
      count[k] = k < d ? 1 : k == d ? c : w->ldims[k];
    }
    for (int t = 0; t < n_trail; ++t) start[nd + t] = 0, count[nd + t] = trail[t];
    KPS_CHECK(box_push(bl, start, count, row));
    a += c * stride[d];
    row += c * stride[d];
  }
cleanup:
  return rc;
}

/*
 * The union of boxes [lo, hi) as a selection on a copy of `space`, combined
 * pairwise: adding boxes one by one to a selection costs time quadratic in
 * their number in HDF5 1.10, a balanced merge does not.
 */
static hid_t combine_boxes(hid_t space, const box_list *bl, size_t lo, size_t hi) {
  if (hi - lo == 1) {
    hid_t sp = H5Scopy(space);
    if (sp >= 0 && H5Sselect_hyperslab(sp, H5S_SELECT_SET, bl->start + lo * (size_t)bl->nd, NULL,
                                       bl->count + lo * (size_t)bl->nd, NULL) < 0) {
      H5Sclose(sp);
      return H5I_INVALID_HID;
    }
    return sp;
  }
  const size_t mid = lo + (hi - lo) / 2;
  hid_t a = combine_boxes(space, bl, lo, mid);
  hid_t b = a >= 0 ? combine_boxes(space, bl, mid, hi) : H5I_INVALID_HID;
  hid_t c = b >= 0 ? H5Scombine_select(a, H5S_SELECT_OR, b) : H5I_INVALID_HID;
  if (a >= 0) H5Sclose(a);
  if (b >= 0) H5Sclose(b);
  return c;
}

/* The union of the boxes as a selection on a copy of space (an empty
 * selection when there are none). The caller closes it. */
static kps_err select_boxes(hid_t space, const box_list *bl, hid_t *out) {
  kps_err rc = KPS_OK;
  if (bl->n == 0) {
    KPS_CHECK_H5_ID(*out, H5Scopy(space));
    KPS_CHECK_H5(H5Sselect_none(*out));
  } else {
    KPS_CHECK_H5_ID(*out, combine_boxes(space, bl, 0, bl->n));
  }
cleanup:
  return rc;
}

/* The boxes of the lines ids[0..n) (sorted, batch rows 0..n), whole in
 * their n_trail trailing dimensions of extents trail. */
static kps_err line_boxes(const kps_writer *w, const uint64_t *ids, size_t n, int n_trail,
                          const size_t *trail, box_list *bl) {
  kps_err rc = KPS_OK;
  bl->nd = w->nd_line + n_trail;
  size_t i = 0;
  while (i < n) {
    size_t j = i + 1;
    while (j < n && ids[j] == ids[j - 1] + 1) ++j;
    KPS_CHECK(run_boxes(w, ids[i], ids[j - 1] + 1, i, n_trail, trail, bl));
    i = j;
  }
cleanup:
  return rc;
}

/* Selection of the progress map covering ranges (first, count) pairs. */
static kps_err select_ranges(const kps_writer *w, const uint64_t *ranges, size_t n_ranges,
                             hid_t *out, hsize_t *n_done) {
  kps_err rc = KPS_OK;
  box_list bl = {.nd = 1};
  hid_t space = H5I_INVALID_HID;
  *n_done = 0;
  for (size_t k = 0; k < n_ranges; ++k) {
    if (ranges[2 * k + 1] == 0) continue;
    const hsize_t start = ranges[2 * k], count = ranges[2 * k + 1];
    *n_done += count;
    KPS_CHECK(box_push(&bl, &start, &count, 0));
  }
  KPS_CHECK_H5_ID(space, H5Dget_space(w->done));
  KPS_CHECK(select_boxes(space, &bl, out));
cleanup:
  if (space >= 0) H5Sclose(space);
  box_free(&bl);
  return rc;
}

/* An agreed failure of a flush, said once (rank 0), with the free space:
 * HDF5 does not pass the system's reason on. */
static void report_failure(const kps_writer *w, const char *what) {
  char dir[KPS_PATH_MAX];
  struct statvfs vfs;
  existing_dir(w->path, dir, sizeof dir);
  const int known = statvfs(dir, &vfs) == 0;
  const double avail = known ? (double)vfs.f_bavail * (double)vfs.f_frsize : -1.0;
  fprintf(stderr, "kpsweep: error: %s %s failed on at least one rank%s\n", what, w->path,
          !known ? "" : avail < 1e6 ? ": its file system is full" : " (a quota? a failing disk?)");
}

/* A memory space of one value with nothing selected. */
static hid_t empty_space(void) {
  const hsize_t one = 1;
  hid_t sp = H5Screate_simple(1, &one, NULL);
  if (sp >= 0 && H5Sselect_none(sp) < 0) {
    H5Sclose(sp);
    sp = H5I_INVALID_HID;
  }
  return sp;
}

/*
 * Writes box k of bl into dset from base + bl->row[k] * row_bytes (the same
 * values for every box when row_bytes is 0), from a memory space of the
 * box's own shape, in n_calls collective calls: past its boxes, or after a
 * local failure, a writer takes part with an empty selection, so the
 * writers stay in step. The first failure goes to *step.
 */
static void write_boxes(hid_t dset, hid_t type, hid_t fsp, hid_t none, const box_list *bl,
                        uint64_t n_calls, hid_t xfer, const void *base, size_t row_bytes,
                        const char *what, kps_err *step) {
  static const char dummy[8];
  for (uint64_t k = 0; k < n_calls; ++k) {
    hid_t m = H5I_INVALID_HID;
    const void *buf = dummy;
    herr_t e = 0;
    if (k < bl->n) {
      const hsize_t *start = bl->start + k * (size_t)bl->nd, *count = bl->count + k * (size_t)bl->nd;
      e = H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL);
      if (e >= 0 && (m = H5Screate_simple(bl->nd, count, NULL)) < 0) e = -1;
      buf = (const char *)base + bl->row[k] * row_bytes;
    }
    /* Past this writer's boxes, or after a local failure: an empty part
     * of the collective call (`none`: an empty memory selection made
     * before the writers agreed to write). */
    if (k >= bl->n || e < 0) {
      if (m >= 0) H5Sclose(m);
      m = H5I_INVALID_HID;
      if (H5Sselect_none(fsp) < 0) e = -1;
      buf = dummy;
    }
    const herr_t wr = H5Dwrite(dset, type, m >= 0 ? m : none, fsp, xfer, buf);
    if (m >= 0) H5Sclose(m);
    KPS_STEP_H5(*step, e < 0 ? e : wr, what);
  }
}

/*
 * run.fill: status. Marks every point of every line not done -1 in
 * /points/status, each writer a contiguous share of the lines, read from
 * the progress map and written in blocks (the same number of collective
 * calls on every writer). Collective over w->comm.
 */
static kps_err fill_status(kps_writer *w) {
  kps_err rc = KPS_OK, step = KPS_OK, agreed = KPS_OK;
  int size = 1;
  hid_t xfer = H5I_INVALID_HID, fsp = H5I_INVALID_HID, dsp = H5I_INVALID_HID;
  hid_t msp = H5I_INVALID_HID, none = H5I_INVALID_HID;
  uint8_t *done = NULL;
  int8_t *minus = NULL;
  box_list bl = {0};
  size_t trail[2];
  const int n_trail = kps_scope_trailing(KPS_POINT, &w->dims, trail);
  const size_t per_line = kps_scope_len(KPS_POINT, &w->dims);
  KPS_CHECK_MPI(MPI_Comm_size(w->comm, &size));
  const uint64_t share = (w->n_lines + (uint64_t)size - 1) / (uint64_t)size;
  const uint64_t lo = share * (uint64_t)w->rank < w->n_lines ? share * (uint64_t)w->rank : w->n_lines;
  const uint64_t hi = lo + share < w->n_lines ? lo + share : w->n_lines;
  /* Lines per box, so that a box of -1 fits the buffer. */
  const size_t cap = per_line < FILL_BLOCK_VALUES ? FILL_BLOCK_VALUES / per_line : 1;
  const uint64_t n_blocks = (share + KPS_DONE_BLOCK - 1) / KPS_DONE_BLOCK;
  if (!(done = malloc(KPS_DONE_BLOCK)) || !(minus = malloc(cap * per_line))) step = KPS_ERR_NOMEM;
  else memset(minus, 0xff, cap * per_line);
  if (step == KPS_OK && ((xfer = H5Pcreate(H5P_DATASET_XFER)) < 0 ||
                         (w->mpio && H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE) < 0) ||
                         (fsp = H5Dget_space(w->dset[F_STATUS])) < 0 ||
                         (dsp = H5Dget_space(w->done)) < 0 || (none = empty_space()) < 0))
    step = KPS_ERR_HDF5;
  KPS_CHECK(kps_agree(w->comm, step, &agreed));
  if (agreed != KPS_OK) KPS_FAIL(agreed, "preparing the status fill of %s failed", w->path);
  for (uint64_t j = 0; j < n_blocks; ++j) {
    const uint64_t a = lo + j * KPS_DONE_BLOCK < hi ? lo + j * KPS_DONE_BLOCK : hi;
    const uint64_t b = a + KPS_DONE_BLOCK < hi ? a + KPS_DONE_BLOCK : hi;
    hsize_t start = a, count = b - a, mdim = count > 0 ? count : 1;
    herr_t e = count > 0 ? 0 : -1;
    if (e >= 0 && (msp = H5Screate_simple(1, &mdim, NULL)) < 0) e = -1;
    if (e >= 0) e = H5Sselect_hyperslab(dsp, H5S_SELECT_SET, &start, NULL, &count, NULL);
    /* Nothing to read here (or a local failure): an empty part of the
     * collective read, so that the writers stay in step. */
    const int empty = e < 0;
    if (empty && H5Sselect_none(dsp) < 0) e = -1;
    const herr_t rd = H5Dread(w->done, H5T_NATIVE_UINT8, empty ? none : msp, dsp, xfer, done);
    if (count > 0) KPS_STEP_H5(step, e < 0 ? e : rd, "the progress map (reading it)");
    if (msp >= 0) H5Sclose(msp);
    msp = H5I_INVALID_HID;
    if (step != KPS_OK) memset(done, 1, KPS_DONE_BLOCK);
    bl.n = 0;
    bl.nd = w->nd_line + n_trail;
    for (uint64_t l = a; l < b && step == KPS_OK;) {
      if (done[l - a]) {
        ++l;
        continue;
      }
      uint64_t r = l + 1;
      while (r < b && !done[r - a] && r - l < cap) ++r;
      step = run_boxes(w, l, r, 0, n_trail, trail, &bl);
      l = r;
    }
    uint64_t mine = step == KPS_OK ? bl.n : 0, most = 0;
    KPS_CHECK_MPI(MPI_Allreduce(&mine, &most, 1, MPI_UINT64_T, MPI_MAX, w->comm));
    write_boxes(w->dset[F_STATUS], H5T_NATIVE_INT8, fsp, none, &bl, most, xfer, minus, 0, "status",
                &step);
  }
  KPS_CHECK(kps_agree(w->comm, step, &agreed));
  if (agreed != KPS_OK) {
    rc = agreed;
    if (w->rank == 0) report_failure(w, "marking the points not computed in");
  }
cleanup:
  box_free(&bl);
  free(done);
  free(minus);
  if (msp >= 0) H5Sclose(msp);
  if (none >= 0) H5Sclose(none);
  if (dsp >= 0) H5Sclose(dsp);
  if (fsp >= 0) H5Sclose(fsp);
  if (xfer >= 0) H5Pclose(xfer);
  return rc;
}

kps_err kps_writer_flush(kps_writer *w, const kps_batch *b, const uint64_t *ranges,
                         size_t n_ranges, int final) {
  kps_err rc = KPS_OK, step = KPS_OK, agreed = KPS_OK;
  hid_t xfer = H5I_INVALID_HID, done_sp = H5I_INVALID_HID, none = H5I_INVALID_HID;
  hid_t msp[KPS_N_FIELDS + 1];
  hid_t fsp[KPS_N_SCOPES], sel[KPS_N_SCOPES];
  box_list lb[KPS_N_SCOPES];
  uint8_t *ones = NULL;
  hsize_t n_done = 0;
  const size_t rows = b ? b->n_lines : 0;
  const kps_field_info *fi = kps_fields();
  static const char dummy[8];
  memset(lb, 0, sizeof lb);
  if (w->creating) {
    kps_error_report(__FILE__, __LINE__, __func__, KPS_ERR_INTERNAL,
                     "a write before kps_writer_finish");
    return KPS_ERR_INTERNAL;
  }
  for (int f = 0; f <= KPS_N_FIELDS; ++f) msp[f] = H5I_INVALID_HID;
  for (int k = 0; k < KPS_N_SCOPES; ++k) fsp[k] = sel[k] = H5I_INVALID_HID;

  /* 1. Local preparation: the boxes of the rows in each scope. */
  for (size_t r = 1; r < rows && step == KPS_OK; ++r)
    if (b->line_ids[r] <= b->line_ids[r - 1]) {
      step = KPS_ERR_INTERNAL;
      kps_error_report(__FILE__, __LINE__, __func__, step, "batch rows are not sorted by line id");
    }
  if (step == KPS_OK) step = (xfer = H5Pcreate(H5P_DATASET_XFER)) < 0 ? KPS_ERR_HDF5 : KPS_OK;
  if (step == KPS_OK && w->mpio && H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE) < 0)
    step = KPS_ERR_HDF5;
  uint64_t mine[3] = {0, 0, 0}, most[3]; /* failed, boxes, values per field */
  int n_kept = 0;
  for (int f = 0; f < KPS_N_FIELDS && step == KPS_OK; ++f) {
    if (!kps_field_kept(&w->dims, f)) continue;
    const kps_scope s = fi[f].scope;
    mine[2] += rows * kps_scope_len(s, &w->dims);
    ++n_kept;
    if (fsp[s] >= 0) continue;
    size_t trail[2];
    const int n_trail = kps_scope_trailing(s, &w->dims, trail);
    step = line_boxes(w, rows ? b->line_ids : NULL, rows, n_trail, trail, &lb[s]);
    if (step == KPS_OK && (fsp[s] = H5Dget_space(w->dset[f])) < 0) step = KPS_ERR_HDF5;
    if (lb[s].n > mine[1]) mine[1] = lb[s].n;
  }
  /*
   * A selection of several boxes written from a flat buffer makes HDF5 map
   * every value to its chunk one by one (~0.1 us each); a box written from
   * a memory space of its own shape is mapped chunk by chunk. So boxes are
   * written one call each (every writer making as many calls as the one
   * with the most), unless the calls would cost more than the mapping.
   */
  mine[0] = step != KPS_OK;
  if (n_kept > 0) mine[2] /= (uint64_t)n_kept;
  KPS_CHECK_MPI(MPI_Allreduce(mine, most, 3, MPI_UINT64_T, MPI_MAX, w->comm));
  const int per_box = most[1] <= 1 || most[1] * BOX_CALL_VALUES <= most[2];
  for (int s = 0; s < KPS_N_SCOPES && !most[0] && step == KPS_OK && !per_box; ++s)
    if (fsp[s] >= 0) step = select_boxes(fsp[s], &lb[s], &sel[s]);
  for (int f = 0; f < KPS_N_FIELDS && !most[0] && step == KPS_OK && !per_box; ++f) {
    if (!kps_field_kept(&w->dims, f)) continue;
    const hsize_t nvals = rows * kps_scope_len(fi[f].scope, &w->dims);
    hsize_t mdim = nvals > 0 ? nvals : 1;
    if ((msp[f] = H5Screate_simple(1, &mdim, NULL)) < 0 ||
        (nvals == 0 && H5Sselect_none(msp[f]) < 0))
      step = KPS_ERR_HDF5;
  }
  if (!most[0] && step == KPS_OK) step = select_ranges(w, ranges, n_ranges, &done_sp, &n_done);
  if (!most[0] && step == KPS_OK && (none = empty_space()) < 0) step = KPS_ERR_HDF5;
  if (!most[0] && step == KPS_OK) {
    hsize_t md = n_done > 0 ? n_done : 1;
    ones = malloc(md);
    if (!ones) step = KPS_ERR_NOMEM;
    else memset(ones, 1, md);
    if (step == KPS_OK && ((msp[KPS_N_FIELDS] = H5Screate_simple(1, &md, NULL)) < 0 ||
                           (n_done == 0 && H5Sselect_none(msp[KPS_N_FIELDS]) < 0)))
      step = KPS_ERR_HDF5;
  }
  KPS_CHECK(kps_agree(w->comm, most[0] ? KPS_ERR_HDF5 : step, &agreed));
  if (agreed != KPS_OK) {
    rc = agreed;
    if (w->rank == 0) report_failure(w, "preparing a flush of");
    goto cleanup;
  }

  /* 2. The data, every field written, by every rank. */
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    if (!kps_field_kept(&w->dims, f)) continue;
    const hid_t type = kps_h5_mem_type(fi[f].type);
    const kps_scope s = fi[f].scope;
    if (!per_box) {
      KPS_STEP_H5(step, H5Dwrite(w->dset[f], type, msp[f], sel[s], xfer,
                                 rows ? b->data[f] : dummy), fi[f].name);
      continue;
    }
    write_boxes(w->dset[f], type, fsp[s], none, &lb[s], most[1], xfer, rows ? b->data[f] : dummy,
                kps_scope_len(s, &w->dims) * kps_dtype_size(fi[f].type), fi[f].name, &step);
  }
  KPS_CHECK(kps_agree(w->comm, step, &agreed));
  if (agreed != KPS_OK) {
    rc = agreed;
    if (w->rank == 0) report_failure(w, "writing results to");
    goto cleanup;
  }

  /* 3. Only then the progress map, so a line marked done is complete. */
  KPS_STEP_H5(step, H5Dwrite(w->done, H5T_NATIVE_UINT8, msp[KPS_N_FIELDS], done_sp, xfer, ones),
              "the progress map");
  /* A checkpoint must reach the disk; the final flush is followed by the
   * close, which flushes anyway. */
  if (!final) KPS_STEP_H5(step, H5Fflush(w->file, H5F_SCOPE_GLOBAL), "H5Fflush");
  KPS_CHECK(kps_agree(w->comm, step, &agreed));
  if (agreed != KPS_OK) {
    rc = agreed;
    if (w->rank == 0) report_failure(w, "recording progress in");
    goto cleanup;
  }
  /* A write any writer had rows for (the same count on every writer). */
  if (most[2] > 0) ++w->counts.writes;
  w->counts.boxes += rows > 0 ? mine[1] : 0;
  w->counts.calls += (uint64_t)n_kept * (per_box ? most[1] : 1);
cleanup:
  free(ones);
  if (none >= 0) H5Sclose(none);
  if (done_sp >= 0) H5Sclose(done_sp);
  for (int k = 0; k < KPS_N_SCOPES; ++k) {
    if (sel[k] >= 0) H5Sclose(sel[k]);
    if (fsp[k] >= 0) H5Sclose(fsp[k]);
    box_free(&lb[k]);
  }
  for (int f = 0; f <= KPS_N_FIELDS; ++f)
    if (msp[f] >= 0) H5Sclose(msp[f]);
  if (xfer >= 0) H5Pclose(xfer);
  return rc;
}

void kps_writer_get_counts(const kps_writer *w, kps_write_counts *out) {
  static const kps_write_counts none;
  *out = w ? w->counts : none;
}

kps_err kps_writer_close(kps_writer **wp, const kps_run_record *rec) {
  kps_err rc = KPS_OK, agreed = KPS_OK;
  kps_writer *w = *wp;
  *wp = NULL;
  if (!w) return KPS_OK;
  /* (writer_free, below, joins the creator thread.) */
  if (w->creating) KPS_FAIL(KPS_ERR_INTERNAL, "a close before kps_writer_finish");
  kps_err local = KPS_OK;
  if (!w->mpio && w->file >= 0) {
    /* A lone writer: the record goes through its handle. */
    int data_ok = close_datasets(w);
    if (!data_ok) {
      (void)close_parallel(w); /* (failed already: its outcome adds nothing) */
      KPS_FAIL(KPS_ERR_HDF5, "closing %s failed", w->path);
    }
    local = kps_file_record_close(&w->file, w->path, rec, &data_ok);
    if (!data_ok) KPS_FAIL(KPS_ERR_HDF5, "closing %s failed", w->path);
    agreed = local;
  } else {
    local = close_parallel(w) ? KPS_OK : KPS_ERR_HDF5;
    KPS_CHECK(kps_agree(w->comm, local, &agreed));
    if (agreed != KPS_OK) KPS_FAIL(agreed, "closing %s failed", w->path);
    local = w->rank == 0 ? kps_file_write_record(w->path, rec) : KPS_OK;
    KPS_CHECK(kps_agree(w->comm, local, &agreed));
  }
  if (agreed != KPS_OK) {
    rc = agreed;
    if (w->rank == 0)
      fprintf(stderr,
              "kpsweep: error: the run record could not be written to %s (see above); the "
              "computed lines are saved and the file is intact: run again with --resume "
              "once that is mended.\n", w->path);
  }
cleanup:
  writer_free(w);
  return rc;
}

void kps_writer_abort(kps_writer **wp) {
  if (!wp || !*wp) return;
  close_parallel(*wp);
  writer_free(*wp);
  *wp = NULL;
}

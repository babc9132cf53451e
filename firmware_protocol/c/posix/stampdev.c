/* stampdev: a POSIX TCP device program on the C core, the counterpart of
 * `stampside sim --listen` (simulator/), for cross-implementation tests.
 *
 *   stampdev --listen HOST:PORT [--stamps N] [--rate HZ] [--truth FILE] [--boot N]
 *            [--drop-every S --drop-for S] [--corrupt RATE] [--seed N] [--state FILE] ...
 *
 * (`stampdev --help` lists every flag.) It serves one TCP client at a time (a new one replaces
 * the old), prints `listen HOST:PORT` on stdout once it serves, writes the truth log (one
 * JSON line per counted stamp, the simulator's keys) before a stamp's frame goes out, and
 * exits 0 once the --stamps N stamps are counted and all acknowledged, or on SIGTERM/SIGINT.
 * SIGUSR1 reboots the device (unexpectedly). Status lines go to stderr; bad arguments exit 2
 * with one line on stderr.
 *
 * Everything protocol-related happens in the core (include/stampside.h); this file only moves
 * bytes, keeps the clock, plays the practitioner (stamps at a rate with the simulator's
 * force/contact distributions) and injects the link faults the simulator has. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "stampside.h"

/* ---- constants (the simulator's, in simulator/) -------------------------------------------- */

#define EXIT_USAGE 2
#define MS_PER_S 1000.0
#define NS_PER_MS 1000000L
/* Longest wait between two loop turns, ms (simulator/runner.py MAX_IDLE). */
#define MAX_IDLE_MS 50
/* Bytes that may wait for a slow peer before frames are dropped (transports.py BACKLOG_LIMIT). */
#define BACKLOG_LIMIT (16 * 1024)
/* Replayed frames handed to the link at a time (runner.py REPLAY_CHUNK). */
#define REPLAY_CHUNK 64u
/* Bytes of a STAMP frame on the wire (runner.py STAMP_FRAME_BYTES). */
#define STAMP_FRAME_BYTES 20
#define READ_SIZE 4096
/* The practitioner (simulator/stamping.py, config.py StampingConfig). */
#define FORCE_MEAN_N 6.0
#define FORCE_SD_N 1.2
#define DN_PER_N 10.0
#define FORCE_MAX_DN 255
#define CONTACT_MEDIAN_MS 180.0
#define CONTACT_SIGMA 0.3
#define CONTACT_MAX_MS 4095
#define HUMAN_MEDIAN_GAP_S 0.5
#define HUMAN_GAP_SIGMA 0.3
#define HUMAN_MIN_GAP_S 0.2
#define HUMAN_MAX_GAP_S 2.0
#define WALK_ZONES 5
#define ZONE_STAMPS 60
/* The battery (simulator/power.py, config.py DeviceConfig). */
#define BATTERY_PER_STAMP 0.0005
#define BATTERY_PER_MINUTE 0.05
#define BATTERY_EPSILON 1e-9
#define EMPTY_MV 3300
#define FULL_MV 4200
#define PCT_FULL 100
#define S_PER_MIN 60.0
#define REBOOT_SILENCE_S 0.3
/* The state file: "SSDS", then its layout version. */
#define STATE_MAGIC 0x53445353u
#define STATE_LAYOUT 1u
#define U16_MAX 0xFFFFu
#define U32_MAX 0xFFFFFFFFu
#define BITS_PER_BYTE 8
#define PI 3.14159265358979323846

/* ---- settings --------------------------------------------------------------------------------- */

typedef struct settings {
    const char *listen;
    long long stamps;        /* -1: unlimited */
    double rate;             /* stamps per second; 0: human */
    const char *truth;
    long long boot;          /* -1: from the state file (or 1) */
    long long epoch;         /* -1: random */
    double drop_every;       /* 0: never */
    double drop_for;
    double corrupt;
    unsigned long long seed;
    int seed_given;
    const char *state;
    long long reboot_every;  /* counted stamps; 0: never */
    double reboot_silence;
    long long buffer_size;
    double battery;
    double battery_per_stamp;
    int walk_zones;
    int quiet;
    ss_device_config_t device;
} settings_t;

static const char usage_text[] =
    "usage: stampdev --listen HOST:PORT [options]\n"
    "\n"
    "A Stampside derma stamp on the C reference core, served over TCP (one client at a time).\n"
    "Prints `listen HOST:PORT` on stdout once it serves (port 0 picks a free one).\n"
    "\n"
    "  --listen HOST:PORT     serve TCP here ([::1]:PORT for IPv6)\n"
    "  --stamps N             stop stamping after N counted stamps; exit once all are acknowledged\n"
    "  --rate HZ              stamps per second once armed (default: human, about 1-3 Hz)\n"
    "  --truth FILE           one JSON line per counted stamp: boot, seq, device_time_ms, force,\n"
    "                         contact_ms, zone\n"
    "  --boot N               start as a wiped device: boot counter N, seq from 1, a new epoch\n"
    "  --epoch N              numbering epoch for a wiped device (default: random)\n"
    "  --state FILE           keep boot, seq, epoch and unacknowledged stamps in FILE between runs\n"
    "  --drop-every S         close the connection every S seconds (new clients refused while down)\n"
    "  --drop-for S           each drop lasts S seconds (default 1, shorter than --drop-every)\n"
    "  --corrupt RATE         probability that a byte gets one bit flipped, both directions\n"
    "  --seed N               makes stamp values, timing and corruption repeatable (default: random)\n"
    "  --reboot-every N       reboot (unexpectedly) right after every N-th counted stamp\n"
    "  --reboot-silence S     seconds a reboot keeps the device silent (default 0.3)\n"
    "  --buffer-size N        event buffer capacity (default and most: 4096)\n"
    "  --serial S             serial number, 1-12 ASCII characters (default SS-000001)\n"
    "  --versions MIN-MAX     protocol versions spoken (default 1-2)\n"
    "  --battery PCT          battery level at power-up (default 100)\n"
    "  --battery-per-stamp P  battery used by one stamp, % (default 0.0005)\n"
    "  --zones none|walk      none: zone 0; walk: zones 1-5 in turn, 60 stamps each\n"
    "  --quiet                no status lines on stderr\n"
    "  --help                 this text\n"
    "\n"
    "SIGUSR1 reboots the device; SIGTERM or SIGINT stops it (the state is saved).\n";

static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("stampdev: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see stampdev --help)\n", stderr);
    exit(EXIT_USAGE);
}

static double parse_double(const char *flag, const char *text, double lo, double hi)
{
    char *end = NULL;
    double v;
    errno = 0;
    v = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !(v >= lo && v <= hi)) {
        usage_error("%s expects a number %g-%g, got '%s'", flag, lo, hi, text);
    }
    return v;
}

static long long parse_int(const char *flag, const char *text, long long lo, long long hi)
{
    char *end = NULL;
    long long v;
    errno = 0;
    v = strtoll(text, &end, 0);
    if (end == text || *end != '\0' || errno != 0 || v < lo || v > hi) {
        usage_error("%s expects an integer %lld-%lld, got '%s'", flag, lo, hi, text);
    }
    return v;
}

static void parse_args(int argc, char **argv, settings_t *s)
{
    int i;
    memset(s, 0, sizeof *s);
    s->stamps = -1;
    s->boot = -1;
    s->epoch = -1;
    s->drop_for = 1.0;
    s->reboot_silence = REBOOT_SILENCE_S;
    s->buffer_size = SS_RING_CAPACITY;
    s->battery = PCT_FULL;
    s->battery_per_stamp = BATTERY_PER_STAMP;
    ss_device_config_default(&s->device);
    for (i = 1; i < argc; i++) {
        const char *flag = argv[i];
        const char *value;
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (strcmp(flag, "--quiet") == 0 || strcmp(flag, "-q") == 0) {
            s->quiet = 1;
            continue;
        }
        if (strncmp(flag, "--", 2) != 0) {
            usage_error("unexpected argument '%s'", flag);
        }
        if (i + 1 >= argc) {
            usage_error("%s needs a value", flag);
        }
        value = argv[++i];
        if (strcmp(flag, "--listen") == 0) {
            s->listen = value;
        } else if (strcmp(flag, "--stamps") == 0) {
            s->stamps = parse_int(flag, value, 0, U32_MAX);
        } else if (strcmp(flag, "--rate") == 0) {
            s->rate = parse_double(flag, value, 1e-6, 1e6);
        } else if (strcmp(flag, "--truth") == 0) {
            s->truth = value;
        } else if (strcmp(flag, "--boot") == 0) {
            s->boot = parse_int(flag, value, 1, U16_MAX - 1);
        } else if (strcmp(flag, "--epoch") == 0) {
            s->epoch = parse_int(flag, value, 1, U32_MAX);
        } else if (strcmp(flag, "--state") == 0) {
            s->state = value;
        } else if (strcmp(flag, "--drop-every") == 0) {
            s->drop_every = parse_double(flag, value, 1e-3, 1e9);
        } else if (strcmp(flag, "--drop-for") == 0) {
            s->drop_for = parse_double(flag, value, 1e-3, 1e9);
        } else if (strcmp(flag, "--corrupt") == 0) {
            s->corrupt = parse_double(flag, value, 0.0, 1.0);
        } else if (strcmp(flag, "--seed") == 0) {
            s->seed = (unsigned long long)parse_int(flag, value, 0, 0x7FFFFFFFFFFFFFFFLL);
            s->seed_given = 1;
        } else if (strcmp(flag, "--reboot-every") == 0) {
            s->reboot_every = parse_int(flag, value, 1, U32_MAX);
        } else if (strcmp(flag, "--reboot-silence") == 0) {
            s->reboot_silence = parse_double(flag, value, 0.0, 60.0);
        } else if (strcmp(flag, "--buffer-size") == 0) {
            s->buffer_size = parse_int(flag, value, 1, SS_RING_CAPACITY);
        } else if (strcmp(flag, "--serial") == 0) {
            size_t n = strlen(value);
            size_t k;
            if (n < 1 || n > sizeof s->device.serial) {
                usage_error("--serial expects 1-%u ASCII characters, got '%s'", (unsigned)sizeof s->device.serial,
                            value);
            }
            for (k = 0; k < n; k++) {
                if (value[k] < ' ' || value[k] > '~') {
                    usage_error("--serial expects printable ASCII, got '%s'", value);
                }
            }
            memset(s->device.serial, 0, sizeof s->device.serial);
            memcpy(s->device.serial, value, n);
        } else if (strcmp(flag, "--versions") == 0) {
            unsigned lo = 0;
            unsigned hi = 0;
            char extra = 0;
            int got = sscanf(value, "%u-%u%c", &lo, &hi, &extra);
            if (got == 1) {
                hi = lo;
            }
            if ((got != 1 && got != 2) || lo < 1 || lo > hi || hi > SS_HEADER_VERSION_MASK) {
                usage_error("--versions expects MIN-MAX with 1 <= MIN <= MAX <= 15, got '%s'", value);
            }
            s->device.min_version = (uint8_t)lo;
            s->device.max_version = (uint8_t)hi;
        } else if (strcmp(flag, "--battery") == 0) {
            s->battery = parse_double(flag, value, 0.0, PCT_FULL);
        } else if (strcmp(flag, "--battery-per-stamp") == 0) {
            s->battery_per_stamp = parse_double(flag, value, 0.0, PCT_FULL);
        } else if (strcmp(flag, "--zones") == 0) {
            if (strcmp(value, "walk") != 0 && strcmp(value, "none") != 0) {
                usage_error("--zones expects none or walk, got '%s'", value);
            }
            s->walk_zones = strcmp(value, "walk") == 0;
        } else {
            usage_error("unknown option %s", flag);
        }
    }
    if (s->listen == NULL) {
        usage_error("--listen HOST:PORT is required");
    }
    if (s->drop_every > 0.0 && s->drop_for >= s->drop_every) {
        usage_error("--drop-for (%g s) must be shorter than --drop-every (%g s)", s->drop_for, s->drop_every);
    }
}

/* ---- randomness: splitmix64, seeded --------------------------------------------------------- */

typedef struct rng {
    uint64_t state;
} rng_t;

static uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_uniform(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_gauss(rng_t *r, double mean, double sd)
{
    double u1 = 1.0 - rng_uniform(r); /* (0, 1] */
    double u2 = rng_uniform(r);
    return mean + sd * sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

static double rng_lognormal(rng_t *r, double log_median, double sigma)
{
    return exp(rng_gauss(r, log_median, sigma));
}

static uint64_t os_random64(void)
{
    uint64_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f != NULL) {
        if (fread(&v, sizeof v, 1, f) != 1) {
            v = 0;
        }
        fclose(f);
    }
    if (v == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    }
    return v;
}

/* ---- the program's state ----------------------------------------------------------------------- */

static settings_t S;
static ss_nv_t nv; /* the device's "flash": survives the simulated reboots */
static ss_device_t dev;
static struct timespec t0;

static int server_fd = -1;
static int client_fd = -1;
static uint8_t backlog[BACKLOG_LIMIT]; /* bytes waiting for the socket */
static size_t backlog_len;
static uint8_t step_out[BACKLOG_LIMIT]; /* bytes the device produced in this step */
static size_t step_len;
static unsigned long long bytes_dropped;

static FILE *truth_file;
static int nv_dirty;

static rng_t values_rng;
static rng_t timing_rng;
static rng_t noise_out_rng;
static rng_t noise_in_rng;
static long long noise_out_clean = -1; /* clean bytes before the next damaged one (-1: draw) */
static long long noise_in_clean = -1;

static int sched_armed;       /* the scheduler's view of the device's arm state */
static int have_next_stamp;
static double next_stamp_ms;
static int have_anchor;
static double anchor_ms;
static long long anchor_k;
static unsigned long long stamps_counted;

static int offline;           /* rebooting */
static double offline_until_ms;

static int dropping;
static double drop_until_ms;
static double next_drop_ms;

static double battery_base;
static double battery_base_ms;
static unsigned long long battery_stamps;

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reboot_requested;

static void status(const char *fmt, ...)
{
    va_list ap;
    if (S.quiet) {
        return;
    }
    fputs("stampdev: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)(ts.tv_sec - t0.tv_sec) * MS_PER_S + (double)(ts.tv_nsec - t0.tv_nsec) / (double)NS_PER_MS;
}

/* The core's clock: whole milliseconds since start (wraps after 49 days). */
static uint32_t clock_of(double ms)
{
    return (uint32_t)(unsigned long long)ms;
}

/* ---- callbacks from the core ---------------------------------------------------------------------- */

static void on_write(void *ctx, const uint8_t *bytes, size_t len)
{
    (void)ctx;
    if (step_len + len > sizeof step_out) {
        bytes_dropped += len;
        return;
    }
    memcpy(step_out + step_len, bytes, len);
    step_len += len;
}

static void on_nv_changed(void *ctx, const ss_nv_t *changed)
{
    (void)ctx;
    (void)changed;
    nv_dirty = 1;
}

/* ---- the state file: the non-volatile memory between runs ------------------------------------------- */

static void put32(FILE *f, uint32_t v)
{
    unsigned char b[4];
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
    fwrite(b, 1, sizeof b, f);
}

static int get32(FILE *f, uint32_t *v)
{
    unsigned char b[4];
    if (fread(b, 1, sizeof b, f) != sizeof b) {
        return -1;
    }
    *v = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
    return 0;
}

/* Writes boot, last_seq, epoch and the buffered stamps, atomically (temporary file + rename). */
static void save_state(int durable)
{
    char tmp[4096];
    FILE *f;
    uint32_t i;
    if (S.state == NULL) {
        nv_dirty = 0;
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", S.state);
    f = fopen(tmp, "wb");
    if (f == NULL) {
        fprintf(stderr, "stampdev: error: cannot write the state file %s: %s\n", tmp, strerror(errno));
        exit(1);
    }
    put32(f, STATE_MAGIC);
    put32(f, STATE_LAYOUT);
    put32(f, nv.boot);
    put32(f, nv.last_seq);
    put32(f, nv.epoch);
    put32(f, ss_ring_count(&nv));
    for (i = 0; i < ss_ring_count(&nv); i++) {
        const ss_stamp_t *s = ss_ring_at(&nv, i);
        put32(f, s->boot);
        put32(f, s->seq);
        put32(f, s->device_time_ms);
        put32(f, (uint32_t)s->force_dn | ((uint32_t)s->zone << BITS_PER_BYTE));
        put32(f, s->contact_ms);
    }
    fflush(f);
    if (durable) {
        fsync(fileno(f));
    }
    if (ferror(f) || fclose(f) != 0 || rename(tmp, S.state) != 0) {
        fprintf(stderr, "stampdev: error: cannot write the state file %s: %s\n", S.state, strerror(errno));
        exit(1);
    }
    nv_dirty = 0;
}

/* 1: loaded into nv; 0: no file; exits 2 on a file that is not valid. */
static int load_state(void)
{
    FILE *f;
    uint32_t magic = 0;
    uint32_t layout = 0;
    uint32_t boot = 0;
    uint32_t last_seq = 0;
    uint32_t epoch = 0;
    uint32_t count = 0;
    uint32_t i;
    if (S.state == NULL) {
        return 0;
    }
    f = fopen(S.state, "rb");
    if (f == NULL) {
        return 0;
    }
    if (get32(f, &magic) || get32(f, &layout) || get32(f, &boot) || get32(f, &last_seq) || get32(f, &epoch) ||
        get32(f, &count) || magic != STATE_MAGIC || layout != STATE_LAYOUT) {
        fclose(f);
        usage_error("%s is not a stampdev state file", S.state);
    }
    if (count > (uint32_t)S.buffer_size) {
        fclose(f);
        usage_error("the state file %s holds %lu unacknowledged stamps, more than --buffer-size %lld", S.state,
                    (unsigned long)count, S.buffer_size);
    }
    ss_nv_format(&nv, (uint32_t)S.buffer_size, epoch, 1, last_seq);
    nv.boot = boot;
    for (i = 0; i < count; i++) {
        ss_stamp_t s;
        uint32_t v[5];
        int k;
        for (k = 0; k < 5; k++) {
            if (get32(f, &v[k])) {
                fclose(f);
                usage_error("the state file %s is cut short", S.state);
            }
        }
        memset(&s, 0, sizeof s);
        s.boot = (uint16_t)v[0];
        s.seq = v[1];
        s.device_time_ms = v[2];
        s.force_dn = (uint8_t)(v[3] & 0xFFu);
        s.zone = (uint8_t)((v[3] >> BITS_PER_BYTE) & SS_STAMP_ZONE_MASK);
        s.contact_ms = (uint16_t)(v[4] & SS_STAMP_CONTACT_MS_MASK);
        (void)ss_ring_push(&nv, &s);
    }
    fclose(f);
    if (!ss_nv_valid(&nv)) {
        usage_error("the state file %s is not consistent (start afresh with --boot 1)", S.state);
    }
    return 1;
}

/* ---- the battery (closed form, as simulator/power.py) ------------------------------------------------- */

static int battery_pct(double t_ms)
{
    double used = BATTERY_PER_MINUTE * (t_ms - battery_base_ms) / MS_PER_S / S_PER_MIN +
                  S.battery_per_stamp * (double)battery_stamps;
    double level = battery_base - used;
    int pct;
    if (level < 0.0) {
        level = 0.0;
    }
    pct = (int)ceil(level - BATTERY_EPSILON);
    return pct > PCT_FULL ? PCT_FULL : pct;
}

static uint16_t millivolts(int pct)
{
    return (uint16_t)(EMPTY_MV + (FULL_MV - EMPTY_MV) * pct / PCT_FULL);
}

static void check_battery(double t_ms)
{
    int pct = battery_pct(t_ms);
    if (pct != dev.battery_pct) {
        ss_device_battery(&dev, clock_of(t_ms), (uint8_t)pct, millivolts(pct));
    }
}

/* ---- the practitioner ------------------------------------------------------------------------------------ */

static int stamping_done(void)
{
    return S.stamps >= 0 && stamps_counted >= (unsigned long long)S.stamps;
}

/* When the stamp after one at t falls (simulator/device.py Device._after). */
static double after(double t_ms)
{
    if (S.rate > 0.0) {
        if (!have_anchor) {
            have_anchor = 1;
            anchor_ms = t_ms;
            anchor_k = 0;
        }
        anchor_k++;
        return anchor_ms + (double)anchor_k * MS_PER_S / S.rate;
    } else {
        double gap = rng_lognormal(&timing_rng, log(HUMAN_MEDIAN_GAP_S), HUMAN_GAP_SIGMA);
        gap = gap < HUMAN_MIN_GAP_S ? HUMAN_MIN_GAP_S : gap > HUMAN_MAX_GAP_S ? HUMAN_MAX_GAP_S : gap;
        return t_ms + gap * MS_PER_S;
    }
}

/* Follows the device's arm state: arming starts the stamp schedule, disarming stops it. */
static void follow_arm_state(double t_ms)
{
    int armed = ss_device_armed(&dev);
    if (armed == sched_armed) {
        return;
    }
    sched_armed = armed;
    have_next_stamp = 0;
    if (armed) {
        have_anchor = 0;
        if (!stamping_done()) {
            have_next_stamp = 1;
            next_stamp_ms = after(t_ms);
        }
        status("armed");
    } else {
        status("disarmed");
    }
}

static void truth_line(const ss_stamp_t *s)
{
    if (truth_file == NULL) {
        return;
    }
    fprintf(truth_file,
            "{\"boot\": %u, \"seq\": %lu, \"device_time_ms\": %lu, \"force\": %u.%u, \"contact_ms\": %u, "
            "\"zone\": %u}\n",
            (unsigned)s->boot, (unsigned long)s->seq, (unsigned long)s->device_time_ms, (unsigned)(s->force_dn / 10u),
            (unsigned)(s->force_dn % 10u), (unsigned)s->contact_ms, (unsigned)s->zone);
}

static void reboot(double t_ms);

/* One stamp of the practitioner at t (the device is armed). */
static void stamp(double t_ms)
{
    double force;
    double contact;
    long force_dn;
    long contact_ms;
    uint8_t zone = 0;
    int result;
    check_battery(t_ms);
    follow_arm_state(t_ms);
    if (!ss_device_armed(&dev)) {
        return; /* the battery just ran out */
    }
    if (ss_ring_full(&nv)) {
        (void)ss_device_stamp(&dev, clock_of(t_ms), 0, 0, 0); /* refused: the device disarms */
        follow_arm_state(t_ms);
        status("buffer full (%lu stamps): stopped counting", (unsigned long)ss_ring_count(&nv));
        return;
    }
    /* Values are drawn once per counted stamp, so the n-th stamp's depend on the seed alone. */
    force = rng_gauss(&values_rng, FORCE_MEAN_N, FORCE_SD_N);
    contact = rng_lognormal(&values_rng, log(CONTACT_MEDIAN_MS), CONTACT_SIGMA);
    force_dn = lround(force * DN_PER_N);
    contact_ms = lround(contact);
    force_dn = force_dn < 1 ? 1 : force_dn > FORCE_MAX_DN ? FORCE_MAX_DN : force_dn;
    contact_ms = contact_ms < 1 ? 1 : contact_ms > CONTACT_MAX_MS ? CONTACT_MAX_MS : contact_ms;
    if (S.walk_zones) {
        zone = (uint8_t)(1u + (stamps_counted / ZONE_STAMPS) % WALK_ZONES);
    }
    result = ss_device_stamp(&dev, clock_of(t_ms), (uint8_t)force_dn, (uint16_t)contact_ms, zone);
    if (result != SS_STAMP_COUNTED) {
        follow_arm_state(t_ms);
        return;
    }
    stamps_counted++;
    battery_stamps++;
    truth_line(ss_ring_at(&nv, ss_ring_count(&nv) - 1u));
    if (stamping_done()) {
        have_next_stamp = 0;
        status("stamped %llu times: stamping stops (the device stays on the link)", stamps_counted);
    } else {
        next_stamp_ms = after(t_ms);
    }
    if (S.reboot_every > 0 && stamps_counted % (unsigned long long)S.reboot_every == 0u) {
        reboot(t_ms);
    }
}

/* ---- reboots -------------------------------------------------------------------------------------------- */

/* The device goes silent for --reboot-silence s, then boots again: RAM lost, nv kept. */
static void reboot(double t_ms)
{
    if (offline) {
        return;
    }
    offline = 1;
    offline_until_ms = t_ms + S.reboot_silence * MS_PER_S;
    have_next_stamp = 0;
    sched_armed = 0;
    status("rebooting at seq %lu (%lu buffered)", (unsigned long)nv.last_seq, (unsigned long)ss_ring_count(&nv));
}

static void power_up(double t_ms, unsigned flags)
{
    ss_device_config_t cfg = S.device;
    ss_device_counters_t counters = dev.counters;
    if (flags & SS_BOOT_UNEXPECTED) {
        /* What a real device reads again at power-up: the head and the battery gauge. */
        cfg.head_id = dev.head_id;
        cfg.head_uses = dev.head_uses;
        cfg.footprint_mm2 = dev.footprint_mm2;
        cfg.battery_pct = dev.battery_pct;
        cfg.battery_mv = dev.battery_mv;
    }
    if (ss_device_init(&dev, &cfg, &nv) != 0) {
        fprintf(stderr, "stampdev: error: the device memory is not valid\n");
        exit(1);
    }
    /* The simulator's counters live across its reboots (FAULT BUFFER_FULL's detail counts every
     * refused stamp of the run): keep them, so both send the same bytes. */
    dev.counters = counters;
    ss_device_boot(&dev, clock_of(t_ms), flags);
    offline = 0;
    status("booted: boot %lu, seq %lu, epoch 0x%08lx, %lu buffered", (unsigned long)nv.boot,
           (unsigned long)nv.last_seq, (unsigned long)nv.epoch, (unsigned long)ss_ring_count(&nv));
}

/* ---- line noise (simulator/faults.py LineNoise) --------------------------------------------------------- */

static long long noise_draw(rng_t *r)
{
    if (S.corrupt >= 1.0) {
        return 0;
    }
    return (long long)(log(1.0 - rng_uniform(r)) / log1p(-S.corrupt));
}

static void add_noise(uint8_t *data, size_t len, rng_t *r, long long *clean)
{
    size_t pos;
    if (S.corrupt <= 0.0 || len == 0) {
        return;
    }
    if (*clean < 0) {
        *clean = noise_draw(r);
    }
    if ((unsigned long long)*clean >= len) {
        *clean -= (long long)len;
        return;
    }
    pos = (size_t)*clean;
    while (pos < len) {
        data[pos] ^= (uint8_t)(1u << (rng_next(r) % BITS_PER_BYTE));
        pos += 1u + (size_t)noise_draw(r);
    }
    *clean = (long long)(pos - len);
}

/* ---- the socket ----------------------------------------------------------------------------------------- */

static void close_client(const char *why)
{
    if (client_fd < 0) {
        return;
    }
    close(client_fd);
    client_fd = -1;
    backlog_len = 0;
    status("host disconnected: %s", why);
    ss_device_on_disconnect(&dev, clock_of(now_ms()));
}

static void flush_backlog(void)
{
    while (client_fd >= 0 && backlog_len > 0) {
        ssize_t n = send(client_fd, backlog, backlog_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            close_client(strerror(errno));
            return;
        }
        memmove(backlog, backlog + n, backlog_len - (size_t)n);
        backlog_len -= (size_t)n;
    }
}

/* Queues bytes for the host (dropped, and counted, when the backlog is full or nobody listens). */
static void link_write(uint8_t *data, size_t len)
{
    if (len == 0) {
        return;
    }
    if (client_fd < 0 || dropping || backlog_len + len > sizeof backlog) {
        bytes_dropped += len;
        return;
    }
    add_noise(data, len, &noise_out_rng, &noise_out_clean);
    memcpy(backlog + backlog_len, data, len);
    backlog_len += len;
    flush_backlog();
}

/* Hands the device's output to the link: truth and state first, then replies and live frames, then replay. */
static void pump(void)
{
    if (truth_file != NULL) {
        fflush(truth_file);
    }
    if (nv_dirty) {
        save_state(0); /* nothing leaves the device before the memory it depends on is saved */
    }
    if (ss_device_take_link_restart(&dev)) {
        backlog_len = 0; /* bytes queued for the old link session are stale */
    }
    link_write(step_out, step_len);
    step_len = 0;
    while (ss_device_replay_pending(&dev) > 0u && backlog_len == 0) {
        size_t room = client_fd >= 0 ? sizeof backlog - backlog_len : 0;
        uint32_t count = (uint32_t)(room / STAMP_FRAME_BYTES);
        if (count > REPLAY_CHUNK) {
            count = REPLAY_CHUNK;
        }
        if (count < 1u) {
            count = 1u;
        }
        (void)ss_device_replay(&dev, count);
        link_write(step_out, step_len);
        step_len = 0;
    }
}

static int open_server(const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    const char *port = colon != NULL ? colon + 1 : NULL;
    size_t host_len;
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    int fd = -1;
    int rc;
    if (colon == NULL || colon == spec || *port == '\0' || strspn(port, "0123456789") != strlen(port) ||
        atol(port) > (long)U16_MAX) {
        usage_error("--listen expects HOST:PORT, got '%s'", spec);
    }
    host_len = (size_t)(colon - spec);
    if (spec[0] == '[' && host_len >= 2 && spec[host_len - 1] == ']') {
        spec++;
        host_len -= 2;
    }
    if (host_len >= sizeof host) {
        usage_error("--listen host is too long");
    }
    memcpy(host, spec, host_len);
    host[host_len] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        usage_error("cannot listen on %s: %s", S.listen, gai_strerror(rc));
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int one = 1;
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4) == 0) {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        usage_error("cannot listen on %s: %s", S.listen, strerror(errno));
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void print_ready_line(void)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char host[INET6_ADDRSTRLEN];
    unsigned port = 0;
    getsockname(server_fd, (struct sockaddr *)&addr, &len);
    if (addr.ss_family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
        inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
        port = ntohs(a6->sin6_port);
        printf("listen [%s]:%u\n", host, port);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
        inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
        port = ntohs(a4->sin_port);
        printf("listen %s:%u\n", host, port);
    }
    fflush(stdout);
}

static void accept_client(void)
{
    int one = 1;
    int fd = accept(server_fd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    if (dropping) {
        close(fd); /* a drop in progress turns new clients away */
        return;
    }
    close_client("replaced by a new client");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    client_fd = fd;
    status("host connected");
    ss_device_on_connect(&dev, clock_of(now_ms()));
}

static void read_client(double t_ms)
{
    uint8_t data[READ_SIZE];
    ssize_t n = recv(client_fd, data, sizeof data, 0);
    if (n == 0) {
        close_client("closed by the peer");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close_client(strerror(errno));
        }
        return;
    }
    if (offline) {
        return; /* a rebooting device hears nothing */
    }
    add_noise(data, (size_t)n, &noise_in_rng, &noise_in_clean);
    ss_device_on_bytes(&dev, clock_of(t_ms), data, (size_t)n);
    follow_arm_state(t_ms);
}

/* ---- the loop ---------------------------------------------------------------------------------------------- */

static void update_drops(double t_ms)
{
    if (dropping && t_ms >= drop_until_ms) {
        dropping = 0;
        status("link drop ends");
    }
    if (S.drop_every > 0.0 && t_ms >= next_drop_ms) {
        double start = next_drop_ms;
        while (next_drop_ms <= t_ms) {
            next_drop_ms += S.drop_every * MS_PER_S;
        }
        drop_until_ms = start + S.drop_for * MS_PER_S;
        if (t_ms < drop_until_ms) {
            dropping = 1;
            status("link drop starts (closing the connection)");
            close_client("dropped");
        }
    }
}

static void step_timers(double t_ms)
{
    update_drops(t_ms);
    while (have_next_stamp && next_stamp_ms <= t_ms && !offline) {
        stamp(next_stamp_ms);
    }
    if (offline && t_ms >= offline_until_ms) {
        power_up(offline_until_ms, SS_BOOT_UNEXPECTED);
    }
    if (!offline) {
        check_battery(t_ms);
        ss_device_tick(&dev, clock_of(t_ms));
        follow_arm_state(t_ms);
    }
}

static int wait_ms(double t_ms)
{
    double due = t_ms + MAX_IDLE_MS;
    uint32_t hb;
    if (have_next_stamp && next_stamp_ms < due) {
        due = next_stamp_ms;
    }
    if (offline && offline_until_ms < due) {
        due = offline_until_ms;
    }
    if (dropping && drop_until_ms < due) {
        due = drop_until_ms;
    }
    if (S.drop_every > 0.0 && next_drop_ms < due) {
        due = next_drop_ms;
    }
    if (!offline && ss_device_next_due(&dev, &hb)) {
        double hb_ms = t_ms + (double)(int32_t)(hb - clock_of(t_ms));
        if (hb_ms < due) {
            due = hb_ms;
        }
    }
    due -= t_ms;
    return due < 1.0 ? 1 : (int)ceil(due);
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1) {
        reboot_requested = 1;
    } else {
        stop_requested = 1;
    }
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    uint32_t epoch;
    uint64_t seed;
    int loaded;
    parse_args(argc, argv, &S);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    seed = S.seed_given ? S.seed : os_random64() & 0xFFFFFFFFu;
    values_rng.state = seed ^ 0x76616C756573ull;  /* "values" */
    timing_rng.state = seed ^ 0x74696D696E67ull;  /* "timing" */
    noise_out_rng.state = seed ^ 0x6E6F6F7574ull; /* "noout" */
    noise_in_rng.state = seed ^ 0x6E6F696Eull;    /* "noin" */

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The device's memory: the state file's, or a wiped one (--boot N, or nothing saved). */
    loaded = S.boot < 0 ? load_state() : 0;
    if (!loaded) {
        do {
            epoch = S.epoch > 0 ? (uint32_t)S.epoch : (uint32_t)os_random64();
        } while (epoch == 0u);
        ss_nv_format(&nv, (uint32_t)S.buffer_size, epoch, (uint16_t)(S.boot > 0 ? S.boot : 1), 0);
    }
    if (S.truth != NULL) {
        truth_file = fopen(S.truth, "w");
        if (truth_file == NULL) {
            usage_error("cannot write the truth log %s: %s", S.truth, strerror(errno));
        }
    }
    server_fd = open_server(S.listen);
    S.device.write = on_write;
    S.device.nv_changed = on_nv_changed;
    battery_base = S.battery;
    S.device.battery_pct = (uint8_t)battery_pct(0.0);
    S.device.battery_mv = millivolts(S.device.battery_pct);
    next_drop_ms = S.drop_every * MS_PER_S;
    power_up(0.0, SS_BOOT_NORMAL);
    save_state(1);
    step_len = 0; /* the announcement: nobody is connected yet */
    print_ready_line();
    status("seed %llu, %s", (unsigned long long)seed, loaded ? "state file loaded" : "a wiped device");

    while (!stop_requested) {
        struct pollfd fds[2];
        nfds_t nfds = 1;
        double t = now_ms();
        step_timers(t);
        if (reboot_requested) {
            reboot_requested = 0;
            reboot(t);
        }
        pump();
        if (stamping_done() && ss_device_pending(&dev) == 0u && !offline) {
            status("all %llu stamps acknowledged", stamps_counted);
            break;
        }
        fds[0].fd = server_fd;
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        if (client_fd >= 0) {
            fds[1].fd = client_fd;
            fds[1].events = (short)(POLLIN | (backlog_len > 0 ? POLLOUT : 0));
            fds[1].revents = 0;
            nfds = 2;
        }
        if (poll(fds, nfds, wait_ms(t)) < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("stampdev: poll");
            return 1;
        }
        t = now_ms();
        if (fds[0].revents & POLLIN) {
            accept_client();
        }
        if (nfds == 2 && client_fd == fds[1].fd) {
            if (fds[1].revents & POLLOUT) {
                flush_backlog();
            }
            if (client_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
                step_timers(t);
                read_client(t);
            }
        }
        pump();
    }
    pump();
    save_state(1);
    if (truth_file != NULL) {
        fclose(truth_file);
    }
    if (client_fd >= 0) {
        close(client_fd);
    }
    close(server_fd);
    status("stopped: %llu stamps counted, %lu pending, %llu bytes dropped", stamps_counted,
           (unsigned long)ss_device_pending(&dev), bytes_dropped);
    return 0;
}

/* stampscript: drives the device core with scripted events and prints what it sends.
 *
 * For cross-implementation tests: feed the same events to the Python device model
 * (simulator/device.py) and compare the bytes. Reads commands from stdin, one per line
 * ('#' starts a comment); for every command but `config` it prints one line on stdout: the
 * hex of every byte the device sent while handling it (an empty line if none). Times are
 * milliseconds on the device's clock.
 *
 *   config serial S | versions MIN MAX | capacity N | epoch N | boot N | last_seq N |
 *          battery PCT MV | low_battery PCT | armed 0|1 | heartbeat MS | host_timeout MS
 *   boot MS                       the first power-up (a normal boot; applies the config)
 *   reboot MS                     an unexpected reboot: RAM is lost, the nv memory is kept
 *   connect MS | disconnect MS    a transport connection opened / closed
 *   bytes MS HEX                  bytes from the host
 *   tick MS                       time passes
 *   stamp MS FORCE_DN CONTACT_MS ZONE
 *   replay MAX                    up to MAX replayed stamps
 *   arm MS | disarm MS            the buttons
 *   battery MS PCT MV | head MS ID USES FOOTPRINT | sensor MS RAW
 *   state                         prints "boot B last_seq S pending P armed A epoch E" instead of hex
 *
 * Exit status 0, or 2 with one line on stderr for a line it cannot parse. Plain C99. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stampside.h"

#define LINE_MAX_CHARS 4096
#define HEX_BASE 16
#define DEC_BASE 10
#define MAX_ARGS 8

static ss_nv_t nv;
static ss_device_t dev;
static ss_device_config_t cfg;
static int booted;

static void write_hex(void *ctx, const uint8_t *bytes, size_t len)
{
    size_t i;
    (void)ctx;
    for (i = 0; i < len; i++) {
        printf("%02x", bytes[i]);
    }
}

static int fail(unsigned long line_no, const char *what)
{
    fprintf(stderr, "stampscript: line %lu: %s\n", line_no, what);
    return 2;
}

/* Parses an unsigned number (decimal, or hex with 0x); 0 on success. */
static int number(const char *text, unsigned long long *out)
{
    char *end = NULL;
    if (text == NULL || *text == '-') {
        return -1;
    }
    *out = strtoull(text, &end, 0);
    return (end == text || *end != '\0') ? -1 : 0;
}

static int hex_bytes(const char *text, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(text);
    size_t i;
    if (n % 2u != 0u || n / 2u > cap) {
        return -1;
    }
    for (i = 0; i < n / 2u; i++) {
        char pair[3];
        char *end = NULL;
        pair[0] = text[2 * i];
        pair[1] = text[2 * i + 1];
        pair[2] = '\0';
        out[i] = (uint8_t)strtoul(pair, &end, HEX_BASE);
        if (*end != '\0') {
            return -1;
        }
    }
    *len = n / 2u;
    return 0;
}

static unsigned long long epoch_setting = 0x5EED1234u;
static unsigned long long boot_setting = 1;
static unsigned long long last_seq_setting = 0;
static unsigned long long capacity_setting = SS_RING_CAPACITY;

static int configure(char **argv, int argc)
{
    unsigned long long a = 0;
    unsigned long long b = 0;
    const char *key = argv[1];
    if (argc < 3) {
        return -1;
    }
    if (strcmp(key, "serial") == 0) {
        size_t n = strlen(argv[2]);
        if (n < 1u || n > sizeof cfg.serial) {
            return -1;
        }
        memset(cfg.serial, 0, sizeof cfg.serial);
        memcpy(cfg.serial, argv[2], n);
        return 0;
    }
    if (number(argv[2], &a) != 0) {
        return -1;
    }
    if (argc > 3 && number(argv[3], &b) != 0) {
        return -1;
    }
    if (strcmp(key, "versions") == 0 && argc > 3) {
        cfg.min_version = (uint8_t)a;
        cfg.max_version = (uint8_t)b;
    } else if (strcmp(key, "capacity") == 0) {
        capacity_setting = a;
    } else if (strcmp(key, "epoch") == 0) {
        epoch_setting = a;
    } else if (strcmp(key, "boot") == 0) {
        boot_setting = a;
    } else if (strcmp(key, "last_seq") == 0) {
        last_seq_setting = a;
    } else if (strcmp(key, "battery") == 0 && argc > 3) {
        cfg.battery_pct = (uint8_t)a;
        cfg.battery_mv = (uint16_t)b;
    } else if (strcmp(key, "low_battery") == 0) {
        cfg.low_battery_pct = (uint8_t)a;
    } else if (strcmp(key, "armed") == 0) {
        cfg.start_armed = (uint8_t)(a != 0u);
    } else if (strcmp(key, "heartbeat") == 0) {
        cfg.heartbeat_interval_ms = (uint32_t)a;
    } else if (strcmp(key, "host_timeout") == 0) {
        cfg.host_timeout_ms = (uint32_t)a;
    } else {
        return -1;
    }
    return 0;
}

static int run(char **argv, int argc)
{
    unsigned long long v[MAX_ARGS] = {0};
    const char *cmd = argv[0];
    int i;
    if (strcmp(cmd, "config") == 0) {
        return booted ? -1 : configure(argv, argc);
    }
    if (strcmp(cmd, "bytes") != 0) {
        for (i = 1; i < argc && i < MAX_ARGS; i++) {
            if (number(argv[i], &v[i]) != 0) {
                return -1;
            }
        }
    } else if (argc != 3 || number(argv[1], &v[1]) != 0) {
        return -1;
    }
    if (strcmp(cmd, "boot") == 0 && argc == 2 && !booted) {
        ss_nv_format(&nv, (uint32_t)capacity_setting, (uint32_t)epoch_setting, (uint16_t)boot_setting,
                     (uint32_t)last_seq_setting);
        if (ss_device_init(&dev, &cfg, &nv) != 0) {
            return -1;
        }
        booted = 1;
        ss_device_boot(&dev, (uint32_t)v[1], SS_BOOT_NORMAL);
        return 0;
    }
    if (!booted) {
        return -1;
    }
    if (strcmp(cmd, "reboot") == 0 && argc == 2) {
        ss_device_config_t now_cfg = cfg;
        ss_device_counters_t counters = dev.counters;
        /* RAM is lost; what the firmware would read again (battery, head) comes from the device. */
        now_cfg.battery_pct = dev.battery_pct;
        now_cfg.battery_mv = dev.battery_mv;
        now_cfg.head_id = dev.head_id;
        now_cfg.head_uses = dev.head_uses;
        now_cfg.footprint_mm2 = dev.footprint_mm2;
        now_cfg.start_armed = 0;
        if (ss_device_init(&dev, &now_cfg, &nv) != 0) {
            return -1;
        }
        dev.counters = counters; /* as the simulator's, which live across its reboots */
        ss_device_boot(&dev, (uint32_t)v[1], SS_BOOT_UNEXPECTED);
    } else if (strcmp(cmd, "connect") == 0 && argc == 2) {
        ss_device_on_connect(&dev, (uint32_t)v[1]);
    } else if (strcmp(cmd, "disconnect") == 0 && argc == 2) {
        ss_device_on_disconnect(&dev, (uint32_t)v[1]);
    } else if (strcmp(cmd, "bytes") == 0) {
        static uint8_t data[LINE_MAX_CHARS / 2];
        size_t len = 0;
        if (hex_bytes(argv[2], data, sizeof data, &len) != 0) {
            return -1;
        }
        ss_device_on_bytes(&dev, (uint32_t)v[1], data, len);
    } else if (strcmp(cmd, "tick") == 0 && argc == 2) {
        ss_device_tick(&dev, (uint32_t)v[1]);
    } else if (strcmp(cmd, "stamp") == 0 && argc == 5) {
        (void)ss_device_stamp(&dev, (uint32_t)v[1], (uint8_t)v[2], (uint16_t)v[3], (uint8_t)v[4]);
    } else if (strcmp(cmd, "replay") == 0 && argc == 2) {
        (void)ss_device_replay(&dev, (uint32_t)v[1]);
    } else if (strcmp(cmd, "arm") == 0 && argc == 2) {
        (void)ss_device_arm(&dev, (uint32_t)v[1]);
    } else if (strcmp(cmd, "disarm") == 0 && argc == 2) {
        ss_device_disarm(&dev, (uint32_t)v[1]);
    } else if (strcmp(cmd, "battery") == 0 && argc == 4) {
        ss_device_battery(&dev, (uint32_t)v[1], (uint8_t)v[2], (uint16_t)v[3]);
    } else if (strcmp(cmd, "head") == 0 && argc == 5) {
        ss_device_head_changed(&dev, (uint32_t)v[1], (uint32_t)v[2], (uint16_t)v[3], (uint16_t)v[4]);
    } else if (strcmp(cmd, "sensor") == 0 && argc == 3) {
        ss_device_sensor_fault(&dev, (uint32_t)v[1], (uint32_t)v[2]);
    } else if (strcmp(cmd, "state") == 0 && argc == 1) {
        printf("boot %lu last_seq %lu pending %lu armed %d epoch %lu", (unsigned long)nv.boot,
               (unsigned long)nv.last_seq, (unsigned long)ss_device_pending(&dev), ss_device_armed(&dev),
               (unsigned long)nv.epoch);
    } else {
        return -1;
    }
    return 0;
}

int main(void)
{
    static char line[LINE_MAX_CHARS];
    unsigned long line_no = 0;
    ss_device_config_default(&cfg);
    cfg.write = write_hex;
    while (fgets(line, sizeof line, stdin) != NULL) {
        char *argv[MAX_ARGS + 1];
        int argc = 0;
        char *hash = strchr(line, '#');
        char *token;
        line_no++;
        if (hash != NULL) {
            *hash = '\0';
        }
        for (token = strtok(line, " \t\r\n"); token != NULL && argc <= MAX_ARGS; token = strtok(NULL, " \t\r\n")) {
            argv[argc++] = token;
        }
        if (argc == 0) {
            continue;
        }
        if (argc > MAX_ARGS || run(argv, argc) != 0) {
            return fail(line_no, "cannot run this line");
        }
        if (strcmp(argv[0], "config") != 0) {
            putchar('\n');
        }
        fflush(stdout);
    }
    return 0;
}

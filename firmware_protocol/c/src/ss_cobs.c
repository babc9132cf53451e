/* COBS, Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999).
 *
 * The input is cut at every 0x00 into blocks; each block is sent as a code byte (its length
 * + 1) followed by its non-zero bytes. A block of 254 non-zero bytes has code 0xFF and
 * implies no 0x00 after it. The output never holds 0x00, so 0x00 can delimit frames. */
#include "stampside.h"

size_t ss_cobs_encode(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t code_at = 0; /* where the current block's code byte goes */
    size_t o = 1;       /* next output position */
    uint8_t code = 1;   /* the current block's length + 1 */
    size_t i;
    for (i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
            continue;
        }
        out[o++] = in[i];
        code++;
        if (code == SS_COBS_MAX_CODE) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        }
    }
    out[code_at] = code;
    return o;
}

int ss_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    size_t i = 0;
    size_t o = 0;
    while (i < len) {
        uint8_t code = in[i];
        size_t k;
        if (code == 0) {
            return -1; /* a delimiter inside a frame */
        }
        if ((size_t)code - 1u > len - i - 1u) {
            return -1; /* the block runs past the end */
        }
        for (k = 1; k < code; k++) {
            if (in[i + k] == 0 || o >= out_cap) {
                return -1;
            }
            out[o++] = in[i + k];
        }
        i += code;
        /* A short block ends at a 0x00, except the last one (the frame's end). */
        if (code != SS_COBS_MAX_CODE && i < len) {
            if (o >= out_cap) {
                return -1;
            }
            out[o++] = 0;
        }
    }
    return (int)o;
}

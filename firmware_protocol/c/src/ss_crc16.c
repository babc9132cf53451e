/* CRC-16/CCITT-FALSE (docs/protocol.md section 1), bit by bit: small and obviously right.
 * A firmware that needs speed can swap in a 256-entry table; the tests pin the result. */
#include "stampside.h"

#define SS_CRC_TOP_BIT 0x8000u

uint16_t ss_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = SS_CRC_INIT;
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned bit;
        crc = (uint16_t)(crc ^ ((uint16_t)data[i] << (SS_CRC_WIDTH - 8)));
        for (bit = 0; bit < 8u; bit++) {
            if (crc & SS_CRC_TOP_BIT) {
                crc = (uint16_t)((crc << 1) ^ SS_CRC_POLY);
            } else {
                crc = (uint16_t)(crc << 1);
            }
        }
    }
    return (uint16_t)(crc ^ SS_CRC_XOR_OUT);
}

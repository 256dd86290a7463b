/* One multi-lane MD5 compression loop, included once per vector width (see _md5lanes.c).
 *
 * Expects KERNEL_NAME, KERNEL_LANES and KERNEL_TARGET. Lane l hashes nblocks 64-byte blocks from
 * ptr[l], advancing by stride[l] (0 for an idle lane that reads a dummy block), into h[l]. */

KERNEL_TARGET static void KERNEL_NAME(uint32_t *const h[], const uint8_t *ptr[],
                                      const size_t stride[], size_t nblocks)
{
    typedef uint32_t vec __attribute__((vector_size(KERNEL_LANES * 4), aligned(KERNEL_LANES * 4)));
    uint32_t words[16][KERNEL_LANES] __attribute__((aligned(64)));
    uint32_t lane_state[4][KERNEL_LANES] __attribute__((aligned(64)));
    const uint8_t *p[KERNEL_LANES];
    vec a, b, c, d, w[16];

    for (int l = 0; l < KERNEL_LANES; l++) {
        for (int i = 0; i < 4; i++)
            lane_state[i][l] = h[l][i];
        p[l] = ptr[l];
    }
    memcpy(&a, lane_state[0], sizeof a);
    memcpy(&b, lane_state[1], sizeof b);
    memcpy(&c, lane_state[2], sizeof c);
    memcpy(&d, lane_state[3], sizeof d);

    for (size_t block = 0; block < nblocks; block++) {
        /* Transpose: word i of every lane's block into one vector. */
        for (int l = 0; l < KERNEL_LANES; l++) {
            for (int i = 0; i < 16; i++)
                words[i][l] = load_le32(p[l] + 4 * i);
            p[l] += stride[l];
        }
        for (int i = 0; i < 16; i++)
            memcpy(&w[i], words[i], sizeof w[i]);

        vec aa = a, bb = b, cc = c, dd = d;
#define V_ROTL(x, s) (((x) << (s)) | ((x) >> (32 - (s))))
#define V_STEP(f, a, b, c, d, x, t, s)                                                          \
    a += f(b, c, d) + (x) + (t);                                                                \
    a = V_ROTL(a, s);                                                                           \
    a += b;
        MD5_ROUNDS(V_STEP, w)
#undef V_STEP
#undef V_ROTL
        a += aa;
        b += bb;
        c += cc;
        d += dd;
    }

    memcpy(lane_state[0], &a, sizeof a);
    memcpy(lane_state[1], &b, sizeof b);
    memcpy(lane_state[2], &c, sizeof c);
    memcpy(lane_state[3], &d, sizeof d);
    for (int l = 0; l < KERNEL_LANES; l++)
        for (int i = 0; i < 4; i++)
            h[l][i] = lane_state[i][l];
}

#undef KERNEL_NAME
#undef KERNEL_LANES
#undef KERNEL_TARGET

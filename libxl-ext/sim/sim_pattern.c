/*
 * Block contents of the simulated guest: tag + deterministic filler.  The
 * generators must stay bit-for-bit stable (see sim_rng.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "sim/sim_pattern.h"
#include "sim/sim_rng.h"

_Static_assert(sizeof(struct sim_tag) == 32, "tag layout");

/* 256 common words: text filler picks one per byte of randomness. */
static const char *const words[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was",
    "with", "be", "by", "on", "not", "he", "this", "are", "or", "his",
    "from", "at", "which", "but", "have", "an", "had", "they", "you",
    "were", "their", "one", "all", "we", "can", "her", "has", "there",
    "been", "if", "more", "when", "will", "would", "who", "so", "no", "she",
    "other", "its", "may", "these", "what", "them", "than", "some", "him",
    "time", "into", "only", "do", "could", "new", "about", "two", "first",
    "then", "any", "like", "my", "now", "over", "such", "our", "man", "me",
    "even", "most", "made", "after", "also", "did", "many", "before",
    "must", "through", "back", "years", "where", "much", "your", "way",
    "well", "down", "should", "because", "each", "just", "those", "people",
    "how", "too", "little", "state", "good", "very", "make", "world",
    "still", "own", "see", "men", "work", "long", "get", "here", "between",
    "both", "life", "being", "under", "never", "day", "same", "another",
    "know", "while", "last", "might", "us", "great", "old", "year", "off",
    "come", "since", "against", "go", "came", "right", "used", "take",
    "three", "himself", "few", "house", "use", "during", "without", "again",
    "place", "around", "however", "home", "small", "found", "thought",
    "went", "say", "part", "once", "general", "high", "upon", "school",
    "every", "does", "got", "united", "left", "number", "course", "war",
    "until", "always", "away", "something", "fact", "though", "water",
    "less", "public", "put", "think", "almost", "hand", "enough", "far",
    "took", "head", "yet", "government", "system", "better", "set", "told",
    "nothing", "night", "end", "why", "called", "didn't", "eyes", "find",
    "going", "look", "asked", "later", "knew", "point", "next", "program",
    "city", "business", "give", "group", "toward", "young", "days", "let",
    "room", "president", "side", "social", "given", "present", "several",
    "order", "national", "second", "possible", "rather", "per", "face",
    "among", "form", "important", "often", "things", "looked", "early",
    "white", "case", "john", "become", "large", "big", "need", "four",
    "within", "felt", "along", "children", "saw", "best",
};

_Static_assert(sizeof(words) / sizeof(words[0]) == 256, "one word per byte");

static void fill_text(unsigned char *p, size_t len, struct sim_rng *r)
{
    size_t pos = 0;

    while (pos < len) {
        uint64_t bits = sim_rng_next(r);

        /* Five words per draw: 8 bits choose the word, 4 its punctuation. */
        for (int i = 0; i < 5 && pos < len; i++, bits >>= 12) {
            const char *w = words[bits & 0xff];
            unsigned punct = (bits >> 8) & 0xf;
            size_t wl = strlen(w);

            if (wl > len - pos)
                wl = len - pos;
            memcpy(p + pos, w, wl);
            pos += wl;
            if (pos < len && punct == 0)
                p[pos++] = '.';
            else if (pos < len && punct == 1)
                p[pos++] = ',';
            if (pos < len)
                p[pos++] = punct == 2 ? '\n' : ' ';
        }
    }
}

static void fill_random(unsigned char *p, size_t len, struct sim_rng *r)
{
    size_t pos = 0;

    for (; pos + 8 <= len; pos += 8) {
        uint64_t v = sim_rng_next(r);

        memcpy(p + pos, &v, 8);
    }
    if (pos < len) {
        uint64_t v = sim_rng_next(r);

        memcpy(p + pos, &v, len - pos);
    }
}

static uint32_t block_crc(const unsigned char *buf)
{
    static const unsigned char zero[4];
    const size_t off = offsetof(struct sim_tag, crc);
    uLong c = crc32(0L, Z_NULL, 0);

    c = crc32(c, buf, off);
    c = crc32(c, zero, 4);
    c = crc32(c, buf + off + 4, SIM_BLOCK_SIZE - off - 4);
    return (uint32_t)c;
}

void sim_pattern_fill(void *buf, uint64_t seed, uint64_t block, uint32_t gen,
                      enum sim_fill fill)
{
    unsigned char *p = buf;
    struct sim_tag tag = {
        .magic = SIM_TAG_MAGIC, .gen = gen, .seed = seed, .block = block,
        .fill = (uint32_t)fill, .crc = 0,
    };
    struct sim_rng r;

    if (fill != SIM_FILL_TEXT && fill != SIM_FILL_RANDOM) {
        memset(p, 0, SIM_BLOCK_SIZE);
        return;
    }
    sim_rng_seed(&r, sim_mix3(seed, block, ((uint64_t)fill << 32) | gen));
    memcpy(p, &tag, sizeof(tag));
    if (fill == SIM_FILL_TEXT)
        fill_text(p + sizeof(tag), SIM_BLOCK_SIZE - sizeof(tag), &r);
    else
        fill_random(p + sizeof(tag), SIM_BLOCK_SIZE - sizeof(tag), &r);
    tag.crc = block_crc(p);
    memcpy(p + offsetof(struct sim_tag, crc), &tag.crc, sizeof(tag.crc));
}

static bool all_zero(const unsigned char *p, size_t len)
{
    uint64_t acc = 0, w;

    for (size_t i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    return !acc;
}

enum sim_found sim_pattern_inspect(const void *buf, struct sim_tag *tag)
{
    const unsigned char *p = buf;

    memcpy(tag, p, sizeof(*tag));
    if (all_zero(p, SIM_BLOCK_SIZE))
        return SIM_FOUND_ZEROS;
    if (tag->magic != SIM_TAG_MAGIC)
        return SIM_FOUND_UNTAGGED;
    if (tag->crc != block_crc(p))
        return SIM_FOUND_CORRUPT;
    return SIM_FOUND_TAGGED;
}

static void describe(const void *buf, char *out, size_t len)
{
    struct sim_tag t;

    switch (sim_pattern_inspect(buf, &t)) {
    case SIM_FOUND_ZEROS:
        snprintf(out, len, "zeros");
        break;
    case SIM_FOUND_UNTAGGED:
        snprintf(out, len, "untagged data");
        break;
    case SIM_FOUND_CORRUPT:
        snprintf(out, len, "a corrupt block (tag seed %" PRIu64 " block %"
                 PRIu64 " gen %" PRIu32 ", bad CRC)", t.seed, t.block, t.gen);
        break;
    case SIM_FOUND_TAGGED:
        snprintf(out, len, "seed %" PRIu64 " block %" PRIu64 " gen %" PRIu32,
                 t.seed, t.block, t.gen);
        break;
    }
}

void sim_pattern_explain(const void *buf, const void *want, uint64_t seed,
                         uint64_t block, uint32_t gen, char *msg, size_t len)
{
    struct sim_tag t, wt;
    enum sim_found found = sim_pattern_inspect(buf, &t);
    enum sim_found expected = sim_pattern_inspect(want, &wt);
    char f[160], w[160];

    describe(buf, f, sizeof(f));
    describe(want, w, sizeof(w));
    if (found == SIM_FOUND_TAGGED && expected == SIM_FOUND_TAGGED) {
        if (t.seed != seed) {
            snprintf(msg, len, "block %" PRIu64 ": data of another disk (%s)",
                     block, f);
            return;
        }
        if (t.block != block) {
            snprintf(msg, len, "block %" PRIu64 ": data of block %" PRIu64
                     " gen %" PRIu32 " (misplaced); want gen %" PRIu32,
                     block, t.block, t.gen, gen);
            return;
        }
        if (t.gen < gen) {
            snprintf(msg, len, "block %" PRIu64 ": older generation %" PRIu32
                     ", want %" PRIu32 " (an acknowledged write was lost)",
                     block, t.gen, gen);
            return;
        }
        if (t.gen > gen) {
            snprintf(msg, len, "block %" PRIu64 ": generation %" PRIu32
                     " is newer than the acknowledged %" PRIu32,
                     block, t.gen, gen);
            return;
        }
    }
    snprintf(msg, len, "block %" PRIu64 ": found %s; want %s", block, f,
             expected == SIM_FOUND_UNTAGGED && block == 0 ? "the superblock"
                                                         : w);
}

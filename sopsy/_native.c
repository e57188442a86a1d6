/*
 * sopsy._native: whole-file decryption of sops JSON and dotenv files in one native pass.
 *
 * Why hand-written C: decrypting a 10,000-value file is 10,000 tiny AES-GCM operations, each
 * wrapped in parsing, base64 and rendering. In Python that is ~5 us of interpreter work per
 * value, which makes sopsy slower than the Go binary on formats where go-yaml is not in the
 * way. No library offers "decrypt every ENC[...] value of this file"; the cryptography package
 * does one value per Python call. This module does the per-value loop over OpenSSL's EVP API
 * (the same AES-GCM that cryptography wraps) and leaves everything else to the Python code.
 *
 * The GIL is held throughout: the passes use PyMem_* and CPython's float conversions, and a
 * decrypt is one short call in a single-threaded CLI.
 *
 * Contract: this is only ever an accelerator. Every function returns None when the input is
 * not the plain common case it knows how to handle exactly (JSON comments, escapes in keys,
 * an unusual type tag, a value that fails authentication, anything malformed...). The caller
 * then runs the ordinary Python path, which gives the same output or the proper error. So this
 * code never reports an error to the user and never has to agree with the Python path on
 * anything but the output of a file it accepted (a test compares the two on many files).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <ctype.h>
#include <string.h>

/* ---- growable byte buffer ---------------------------------------------------------------- */

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} buf_t;

static int buf_reserve(buf_t *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *p = PyMem_Realloc(b->p, (size_t)cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_put(buf_t *b, const char *s, Py_ssize_t n) {
    if (n == 0) return 0;
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

static void buf_free(buf_t *b) {
    PyMem_Free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- strict base64 (standard alphabet, padded; non-canonical input is refused) --------------- */

static signed char b64val[256];

static void b64_init(void) {
    memset(b64val, -1, sizeof b64val);
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; i++) b64val[(unsigned char)a[i]] = (signed char)i;
}

/* Decodes s[0:n] into out (room for 3*n/4 bytes); returns the length, or -1. */
static Py_ssize_t b64_decode(const unsigned char *s, Py_ssize_t n, unsigned char *out) {
    if (n % 4) return -1;
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < n; i += 4) {
        int a = b64val[s[i]], b = b64val[s[i + 1]], c, d;
        if (a < 0 || b < 0) return -1;
        int last = i + 4 == n;
        if (last && s[i + 2] == '=') {
            if (s[i + 3] != '=' || (b & 15)) return -1;
            out[o++] = (unsigned char)(a << 2 | b >> 4);
            break;
        }
        c = b64val[s[i + 2]];
        if (c < 0) return -1;
        if (last && s[i + 3] == '=') {
            if (c & 3) return -1;
            out[o++] = (unsigned char)(a << 2 | b >> 4);
            out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
            break;
        }
        d = b64val[s[i + 3]];
        if (d < 0) return -1;
        out[o++] = (unsigned char)(a << 2 | b >> 4);
        out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
        out[o++] = (unsigned char)((c & 3) << 6 | d);
    }
    return o;
}

/* ---- one data key: AES-256-GCM with sops's 32-byte IV, and the SHA-512 MAC ------------------ */

enum { T_STR, T_INT, T_FLOAT, T_BOOL, T_COMMENT, T_OTHER };

typedef struct {
    EVP_CIPHER_CTX *ctx;
    EVP_MD_CTX *mac;
    buf_t pt; /* the last plaintext */
} crypt_t;

static int crypt_open(crypt_t *c, const unsigned char *key, Py_ssize_t keylen) {
    memset(c, 0, sizeof *c);
    if (keylen != 32) return -1;
    c->ctx = EVP_CIPHER_CTX_new();
    c->mac = EVP_MD_CTX_new();
    if (!c->ctx || !c->mac) return -1;
    if (EVP_DecryptInit_ex(c->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) return -1;
    if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_IVLEN, 32, NULL) != 1) return -1;
    if (EVP_DecryptInit_ex(c->ctx, NULL, NULL, key, NULL) != 1) return -1;
    if (EVP_DigestInit_ex(c->mac, EVP_sha512(), NULL) != 1) return -1;
    return 0;
}

static void crypt_close(crypt_t *c) {
    if (c->ctx) EVP_CIPHER_CTX_free(c->ctx);
    if (c->mac) EVP_MD_CTX_free(c->mac);
    buf_free(&c->pt);
}

static int mac_update(crypt_t *c, const char *s, Py_ssize_t n) {
    return n == 0 || EVP_DigestUpdate(c->mac, s, (size_t)n) == 1 ? 0 : -1;
}

static int starts(const char *s, Py_ssize_t n, const char *lit) {
    Py_ssize_t k = (Py_ssize_t)strlen(lit);
    return n >= k && memcmp(s, lit, (size_t)k) == 0;
}

static int is_b64char(unsigned char ch) { return b64val[ch] >= 0 || ch == '='; }

/*
 * Decrypts one ENC[AES256_GCM,data:..,iv:..,tag:..,type:..] string that spans exactly s[0:n]
 * into c->pt; returns its type (T_*), or -1 when it is not the canonical form or does not
 * authenticate under this key and aad.
 */
static int decrypt_enc(crypt_t *c, const char *s, Py_ssize_t n, const char *aad, Py_ssize_t aadlen) {
    const char *end = s + n, *p;
    const char *fld[3];
    Py_ssize_t len[3];
    static const char *names[3] = {"data:", "iv:", "tag:"};
    if (!starts(s, n, "ENC[AES256_GCM,") || s[n - 1] != ']') return -1;
    p = s + 15;
    for (int k = 0; k < 3; k++) {
        if (!starts(p, end - p, names[k])) return -1;
        p += strlen(names[k]);
        fld[k] = p;
        while (p < end && is_b64char((unsigned char)*p)) p++;
        len[k] = p - fld[k];
        if (p >= end || *p != ',') return -1;
        p++;
    }
    if (!starts(p, end - p, "type:")) return -1;
    p += 5;
    const char *ty = p;
    while (p < end && *p >= 'a' && *p <= 'z') p++;
    if (p != end - 1 || p == ty) return -1;
    Py_ssize_t tylen = p - ty;
    int type = T_OTHER;
    if (tylen == 3 && memcmp(ty, "str", 3) == 0) type = T_STR;
    else if (tylen == 3 && memcmp(ty, "int", 3) == 0) type = T_INT;
    else if (tylen == 5 && memcmp(ty, "float", 5) == 0) type = T_FLOAT;
    else if (tylen == 4 && memcmp(ty, "bool", 4) == 0) type = T_BOOL;
    else if (tylen == 7 && memcmp(ty, "comment", 7) == 0) type = T_COMMENT;
    else return -1; /* time, bytes...: the Python path knows them */

    unsigned char iv[48], tag[24];
    if (len[1] != 44 || len[2] != 24) return -1; /* a 32-byte IV and a 16-byte tag */
    if (b64_decode((const unsigned char *)fld[1], len[1], iv) != 32) return -1;
    if (b64_decode((const unsigned char *)fld[2], len[2], tag) != 16) return -1;
    c->pt.len = 0;
    if (buf_reserve(&c->pt, len[0] + 16) < 0) return -1;
    unsigned char *ct = (unsigned char *)c->pt.p; /* decrypted in place */
    Py_ssize_t ctlen = b64_decode((const unsigned char *)fld[0], len[0], ct);
    if (ctlen < 0 || ctlen > INT_MAX || aadlen > INT_MAX) return -1;
    int outl = 0, finl = 0;
    if (EVP_DecryptInit_ex(c->ctx, NULL, NULL, NULL, iv) != 1) return -1;
    if (aadlen && EVP_DecryptUpdate(c->ctx, NULL, &outl, (const unsigned char *)aad, (int)aadlen) != 1) return -1;
    if (ctlen && EVP_DecryptUpdate(c->ctx, ct, &outl, ct, (int)ctlen) != 1) return -1;
    if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1) return -1;
    if (EVP_DecryptFinal_ex(c->ctx, ct + outl, &finl) != 1) return -1;
    c->pt.len = outl + finl;
    return type;
}

/* ---- typed plaintexts: only the spellings whose MAC bytes and output are certain ------------ */

static int is_digits(const char *s, Py_ssize_t n) {
    if (n == 0) return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?  -- no exponent */
static int is_plain_number(const char *s, Py_ssize_t n) {
    Py_ssize_t i = 0, j;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return 0;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9') { while (i < n && s[i] >= '0' && s[i] <= '9') i++; }
    else return 0;
    if (i == n) return 1;
    if (s[i] != '.') return 0;
    j = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    return i == n && i > j;
}

/*
 * The MAC bytes of a float given as a JSON number without exponent: Go's FormatFloat(v, 'f', -1)
 * of its value. Python's repr has the same shortest digits; written out without an exponent it
 * is the Go text (as sopsy.values.format_float_f does it). Returns 0 and fills out
 * (NUL-terminated), or -1 (use the Python path).
 */
static int float_mac_bytes(const char *s, Py_ssize_t n, char *out, size_t outsz) {
    char tmp[64], digits[40];
    if (n <= 0 || n >= (Py_ssize_t)sizeof tmp || !is_plain_number(s, n)) return -1;
    memcpy(tmp, s, (size_t)n);
    tmp[n] = 0;
    double v = PyOS_string_to_double(tmp, NULL, NULL);
    if (v == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return -1; }
    if (Py_IS_INFINITY(v) || Py_IS_NAN(v)) return -1;
    char *r = PyOS_double_to_string(v, 'r', 0, 0, NULL);
    if (!r) { PyErr_Clear(); return -1; }
    int rc = -1;
    const char *e = strchr(r, 'e'), *q = r;
    size_t rl = strlen(r);
    if (!e) { /* already fixed-point (repr without the ".0" a whole number would get) */
        if (rl < outsz) { memcpy(out, r, rl + 1); rc = 0; }
        goto done;
    }
    /* d[.ddd]e[+-]XX -> fixed point */
    {
        size_t nd = 0, o = 0;
        int neg = *q == '-';
        if (neg) q++;
        for (; q < e; q++) {
            if (*q == '.') continue;
            if (*q < '0' || *q > '9' || nd + 1 >= sizeof digits) goto done;
            digits[nd++] = *q;
        }
        while (nd > 1 && digits[nd - 1] == '0') nd--;
        long exp10 = strtol(e + 1, NULL, 10);
        if (nd == 0 || exp10 > 400 || exp10 < -400) goto done;
        long point = exp10 + 1; /* digits before the decimal point */
        size_t need = (size_t)(labs(point) + (long)nd + 4);
        if (need >= outsz) goto done;
        if (neg) out[o++] = '-';
        if (point >= (long)nd) {
            memcpy(out + o, digits, nd); o += nd;
            for (long k = 0; k < point - (long)nd; k++) out[o++] = '0';
        } else if (point > 0) {
            memcpy(out + o, digits, (size_t)point); o += (size_t)point;
            out[o++] = '.';
            memcpy(out + o, digits + point, nd - (size_t)point); o += nd - (size_t)point;
        } else {
            out[o++] = '0';
            out[o++] = '.';
            for (long k = 0; k < -point; k++) out[o++] = '0';
            memcpy(out + o, digits, nd); o += nd;
        }
        out[o] = 0;
        rc = 0;
    }
done:
    PyMem_Free(r);
    return rc;
}

/* Whether a JSON number token is a finite double (the Python path refuses the others, wherever
   they stand, the metadata included). Short plain tokens cannot overflow. */
static int number_finite(const char *s, Py_ssize_t n) {
    char tmp[512];
    int plain = 1;
    for (Py_ssize_t i = 0; i < n; i++) if (s[i] == 'e' || s[i] == 'E') plain = 0;
    if (plain && n < 300) return 1;
    if (n >= (Py_ssize_t)sizeof tmp) return 0;
    memcpy(tmp, s, (size_t)n);
    tmp[n] = 0;
    double v = PyOS_string_to_double(tmp, NULL, NULL);
    if (v == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
    return !Py_IS_INFINITY(v) && !Py_IS_NAN(v);
}

/* ---- the crypt rule (suffix rules; regex and comment rules stay in Python) ------------------ */

typedef struct {
    int encrypted_suffix; /* 1: keys with the suffix are encrypted; 0: they are left plain */
    const char *suffix;
    Py_ssize_t suffixlen;
    int mac_only; /* mac_only_encrypted: plain values are not in the MAC */
} rule_t;

static int key_hits(const rule_t *r, const char *k, Py_ssize_t n) {
    return n >= r->suffixlen && memcmp(k + n - r->suffixlen, r->suffix, (size_t)r->suffixlen) == 0;
}

static int should_decrypt(const rule_t *r, int path_hit) {
    return r->encrypted_suffix ? path_hit : !path_hit;
}

static PyObject *mac_hex(crypt_t *c) {
    unsigned char md[64];
    unsigned int mdlen = 0;
    char hex[129];
    static const char *digits = "0123456789ABCDEF";
    if (EVP_DigestFinal_ex(c->mac, md, &mdlen) != 1 || mdlen != 64) Py_RETURN_NONE;
    for (int i = 0; i < 64; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    return PyUnicode_FromStringAndSize(hex, 128);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

/*
 * The accepted grammar is strict JSON (RFC 8259) with an object at the top and an optional
 * UTF-8 BOM; no comments, no trailing commas. Keys may not contain backslashes (their AAD
 * would need unescaping). Exactly one top-level "sops" object holds the metadata.
 */

typedef struct {
    const char *s;
    Py_ssize_t n, i;
} scan_t;

static void ws(scan_t *t) {
    while (t->i < t->n) {
        char ch = t->s[t->i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') t->i++;
        else break;
    }
}

/* A string token at t->i; sets *esc when it holds a backslash. -1: not a valid string. */
static int string_tok(scan_t *t, int *esc) {
    const char *s = t->s;
    Py_ssize_t i = t->i + 1, n = t->n;
    *esc = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"') { t->i = i + 1; return 0; }
        if (ch < 0x20) return -1;
        if (ch == '\\') {
            *esc = 1;
            if (i + 1 >= n) return -1;
            char e = s[i + 1];
            if (e == 'u') {
                if (i + 5 >= n) return -1;
                for (int k = 2; k < 6; k++)
                    if (!isxdigit((unsigned char)s[i + k])) return -1;
                i += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == 0) return -1;
            i += 2;
            continue;
        }
        i++;
    }
    return -1;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static unsigned int hex4(const char *s) {
    return (unsigned int)(hexval(s[0]) << 12 | hexval(s[1]) << 8 | hexval(s[2]) << 4 | hexval(s[3]));
}

/* Appends the value of a scanned string body (between the quotes) as UTF-8, decoding escapes
   as JsonStore does (a lone surrogate escape becomes U+FFFD, as in Go). */
static int json_unescape(buf_t *o, const char *s, Py_ssize_t n) {
    Py_ssize_t i = 0, run = 0;
    while (i < n) {
        if (s[i] != '\\') { i++; continue; }
        if (buf_put(o, s + run, i - run) < 0) return -1;
        char e = s[i + 1];
        if (e != 'u') {
            const char *m = strchr("\"\"\\\\//b\bf\fn\nr\rt\t", e);
            if (!m) return -1;
            if (buf_put(o, m + 1, 1) < 0) return -1;
            i += 2;
        } else {
            unsigned int cp = hex4(s + i + 2);
            i += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u') {
                unsigned int lo = hex4(s + i + 2);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
            char u[4];
            Py_ssize_t k;
            if (cp < 0x80) { u[0] = (char)cp; k = 1; }
            else if (cp < 0x800) { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3F)); k = 2; }
            else if (cp < 0x10000) {
                u[0] = (char)(0xE0 | cp >> 12); u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
                u[2] = (char)(0x80 | (cp & 0x3F)); k = 3;
            } else {
                u[0] = (char)(0xF0 | cp >> 18); u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
                u[2] = (char)(0x80 | (cp >> 6 & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); k = 4;
            }
            if (buf_put(o, u, k) < 0) return -1;
        }
        run = i;
    }
    return buf_put(o, s + run, n - run);
}

/* A number token: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number_tok(scan_t *t) {
    const char *s = t->s;
    Py_ssize_t i = t->i, n = t->n, j;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return -1;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9') { while (i < n && s[i] >= '0' && s[i] <= '9') i++; }
    else return -1;
    if (i < n && s[i] == '.') {
        j = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == j) return -1;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        j = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == j) return -1;
    }
    t->i = i;
    return 0;
}

static int at_delim(scan_t *t) {
    if (t->i >= t->n) return 1;
    char ch = t->s[t->i];
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ',' || ch == ']' || ch == '}';
}

/* One UTF-8 character at s[i]: its width (and code point in *cp), or -1 when it is not valid
   UTF-8 (overlong forms and surrogates included). */
static int utf8_char(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, unsigned int *cp) {
    unsigned char ch = s[i];
    int width;
    if (ch < 0x80) { *cp = ch; return 1; }
    if (ch >= 0xC2 && ch <= 0xDF) { width = 2; *cp = ch & 0x1F; }
    else if (ch >= 0xE0 && ch <= 0xEF) { width = 3; *cp = ch & 0x0F; }
    else if (ch >= 0xF0 && ch <= 0xF4) { width = 4; *cp = ch & 0x07; }
    else return -1;
    if (i + width > n) return -1;
    for (int k = 1; k < width; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return -1;
        *cp = *cp << 6 | (s[i + k] & 0x3F);
    }
    if ((width == 3 && *cp < 0x800) || (width == 4 && (*cp < 0x10000 || *cp > 0x10FFFF))) return -1;
    if (*cp >= 0xD800 && *cp <= 0xDFFF) return -1;
    return width;
}

/* Whether s[0:n] is valid UTF-8 (no overlongs, no surrogates): only then do byte-wise key
   suffix tests agree with the Python path's tests on decoded text. */
static int valid_utf8(const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n;) {
        unsigned int cp;
        int width = utf8_char(s, i, n, &cp);
        if (width < 0) return 0;
        i += width;
    }
    return 1;
}

/* Go's encoding/json escaping of a valid UTF-8 string; -1 for invalid UTF-8. */
static int go_quote(buf_t *o, const unsigned char *s, Py_ssize_t n) {
    static const char *hexd = "0123456789abcdef";
    if (buf_reserve(o, n + 2) < 0) return -1;
    o->p[o->len++] = '"';
    Py_ssize_t i = 0, run = 0;
    while (i < n) {
        unsigned char ch = s[i];
        const char *rep = NULL;
        char ubuf[6];
        int width = 1;
        if (ch < 0x80) {
            if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != '<' && ch != '>' && ch != '&') { i++; continue; }
            switch (ch) {
            case '"': rep = "\\\""; break;
            case '\\': rep = "\\\\"; break;
            case '\b': rep = "\\b"; break;
            case '\f': rep = "\\f"; break;
            case '\n': rep = "\\n"; break;
            case '\r': rep = "\\r"; break;
            case '\t': rep = "\\t"; break;
            default:
                memcpy(ubuf, "\\u00", 4);
                ubuf[4] = hexd[ch >> 4];
                ubuf[5] = hexd[ch & 15];
                break;
            }
        } else {
            unsigned int cp;
            width = utf8_char(s, i, n, &cp);
            if (width < 0) return -1;
            if (cp != 0x2028 && cp != 0x2029) { i += width; continue; }
            rep = cp == 0x2028 ? "\\u2028" : "\\u2029";
        }
        /* flush the run of plain bytes before this one, then the escape */
        if (buf_put(o, (const char *)s + run, i - run) < 0) return -1;
        if (rep) { if (buf_put(o, rep, (Py_ssize_t)strlen(rep)) < 0) return -1; }
        else if (buf_put(o, ubuf, 6) < 0) return -1;
        i += width;
        run = i;
    }
    if (buf_put(o, (const char *)s + run, n - run) < 0) return -1;
    return buf_put(o, "\"", 1);
}

typedef struct {
    Py_ssize_t limit, key_start, value_start, value_end, after_limit;
} member_t;

/* The text that removing the top-level "sops" member cuts (same rule as JsonStore.render). */
static void sops_cuts(const char *s, Py_ssize_t n, const member_t *m, Py_ssize_t cut[2][2], int *ncut) {
    Py_ssize_t cb = -1, ca = -1, w, floor_;
    for (Py_ssize_t i = m->limit; i < m->key_start; i++) if (s[i] == ',') { cb = i; break; }
    for (Py_ssize_t i = m->value_end; i < m->after_limit; i++) if (s[i] == ',') { ca = i; break; }
    floor_ = cb >= 0 ? cb + 1 : m->limit;
    w = m->key_start;
    while (w > floor_ && (s[w - 1] == ' ' || s[w - 1] == '\t' || s[w - 1] == '\r' || s[w - 1] == '\n')) w--;
    *ncut = 0;
    if (ca >= 0) {
        cut[0][0] = w; cut[0][1] = ca + 1; *ncut = 1;
        return;
    }
    Py_ssize_t end = m->value_end;
    if (cb >= 0) {
        cut[0][0] = cb; cut[0][1] = cb + 1;
        cut[1][0] = w; cut[1][1] = end; *ncut = 2;
        return;
    }
    if (end + 1 < n && s[end] == '\r' && s[end + 1] == '\n') end += 2;
    else if (end < n && s[end] == '\n') end += 1;
    cut[0][0] = w; cut[0][1] = end; *ncut = 1;
}


/* 1 / 0 for Go's strconv.ParseBool spellings, -1 for anything else. */
static int go_bool(const char *s, Py_ssize_t n) {
    static const char *yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (int i = 0; i < 6; i++) {
        if ((Py_ssize_t)strlen(yes[i]) == n && memcmp(s, yes[i], (size_t)n) == 0) return 1;
        if ((Py_ssize_t)strlen(no[i]) == n && memcmp(s, no[i], (size_t)n) == 0) return 0;
    }
    return -1;
}

/* Renders one decrypted JSON value into o and feeds its MAC bytes; -1: leave it to Python. */
static int json_render_plain(crypt_t *c, int type, buf_t *o) {
    const char *pt = c->pt.p;
    Py_ssize_t pl = c->pt.len;
    if (type == T_STR) {
        if (go_quote(o, (const unsigned char *)pt, pl) < 0) return -1;
        return mac_update(c, pt, pl);
    }
    if (type == T_BOOL) {
        /* Go's ParseBool spellings; sops itself writes "True"/"False" */
        int tv = go_bool(pt, pl);
        if (tv < 0) return -1;
        if (buf_put(o, tv ? "true" : "false", tv ? 4 : 5) < 0) return -1;
        return mac_update(c, tv ? "True" : "False", tv ? 4 : 5);
    }
    if (type == T_INT) {
        /* -?(0|[1-9][0-9]{0,17}), and not "-0": Go's Atoi and Python's str agree on it */
        Py_ssize_t neg = pl > 0 && pt[0] == '-';
        const char *d = pt + neg;
        Py_ssize_t dn = pl - neg;
        if (!is_digits(d, dn) || dn > 18 || (d[0] == '0' && (dn > 1 || neg))) return -1;
        if (buf_put(o, pt, pl) < 0) return -1;
        return mac_update(c, pt, pl);
    }
    if (type == T_FLOAT) {
        char mb[512];
        if (float_mac_bytes(pt, pl, mb, sizeof mb) < 0) return -1;
        /* Go's encoding/json (what sops prints) writes 1e-7 and 1e+21 where the 'f' text differs:
           the Python path writes those */
        double v = PyOS_string_to_double(mb, NULL, NULL);
        if (v == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return -1; }
        if (v != 0.0 && (fabs(v) < 1e-6 || fabs(v) >= 1e21)) return -1;
        if (buf_put(o, pt, pl) < 0) return -1;
        return mac_update(c, mb, (Py_ssize_t)strlen(mb));
    }
    return -1;
}

#define MAXDEPTH 256

typedef struct {
    char is_obj[MAXDEPTH];      /* 1: object, 0: array */
    Py_ssize_t aadlen[MAXDEPTH]; /* the AAD prefix length inside it */
    char hit[MAXDEPTH];         /* whether a key on its path hit the rule */
} jstack_t;

/*
 * One pass over a JSON file. With c == NULL it only locates the top-level "sops" member (into
 * *sops); otherwise it decrypts every value, writes the plaintext file into o with the member
 * cut out, and feeds the MAC. Returns 0, or -1 (outside the accepted grammar, or a value that
 * is not in a form this code renders: the Python path takes over).
 */
static int json_pass(const char *s, Py_ssize_t n, member_t *sops, crypt_t *c, const rule_t *r, buf_t *o) {
    scan_t t = {s, n, 0};
    jstack_t *st = PyMem_Malloc(sizeof(jstack_t));
    buf_t aad = {0}, keybuf = {0}, tmp = {0};
    int depth, rc = -1, esc, state, found = 0, in_sops = 0, keyhit = 0;
    Py_ssize_t copied = 0, prev_end, close_pos;
    Py_ssize_t cut[2][2];
    int ncut = 0;
    member_t cur = {0}, sm = {0};
    const char *key = NULL;
    Py_ssize_t keylen = 0;
    if (!st) return -1;
    if (c) sops_cuts(s, n, sops, cut, &ncut);
    if (n >= 3 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF) t.i = 3;
    ws(&t);
    if (t.i >= n || s[t.i] != '{') goto out;
    st->is_obj[0] = 1;
    st->aadlen[0] = 0;
    st->hit[0] = 0;
    depth = 1;
    t.i++;
    prev_end = t.i;
    /* 0: key or '}' (after '{'); 1: key (after ','); 2: value or ']' (after '['); 3: value;
       4: ',' or the closing bracket */
    state = 0;
    for (;;) {
        ws(&t);
        if (t.i >= n) goto out;
        char ch = s[t.i];
        if (state == 0 || state == 1) {
            if (ch == '}' && state == 0) goto close;
            if (ch != '"') goto out;
            Py_ssize_t ks = t.i;
            if (string_tok(&t, &esc) < 0) goto out;
            key = s + ks + 1;
            keylen = t.i - ks - 2;
            if (!valid_utf8((const unsigned char *)key, keylen)) goto out;
            if (esc) { /* the AAD and the rule see the key's value */
                keybuf.len = 0;
                if (json_unescape(&keybuf, key, keylen) < 0) goto out;
                key = keybuf.p;
                keylen = keybuf.len;
            }
            ws(&t);
            if (t.i >= n || s[t.i] != ':') goto out;
            t.i++;
            if (depth == 1) {
                cur.limit = prev_end;
                cur.key_start = ks;
            }
            keyhit = r ? key_hits(r, key, keylen) : 0;
            state = 3;
            continue;
        }
        if (state == 4) {
            if (ch == ',') {
                t.i++;
                state = st->is_obj[depth - 1] ? 1 : 3;
                continue;
            }
            if ((ch == '}' && st->is_obj[depth - 1]) || (ch == ']' && !st->is_obj[depth - 1])) goto close;
            goto out;
        }
        if (state == 2 && ch == ']') goto close;
        {
            Py_ssize_t vs = t.i;
            int hit = st->hit[depth - 1];
            if (depth == 1 && keylen == 4 && memcmp(key, "sops", 4) == 0) {
                if (found || ch != '{') goto out;
                found = 1;
                sm.limit = cur.limit;
                sm.key_start = cur.key_start;
                sm.value_start = vs;
                in_sops = depth + 1;
            }
            if (c && !in_sops) {
                aad.len = st->aadlen[depth - 1];
                if (st->is_obj[depth - 1]) {
                    if (buf_put(&aad, key, keylen) < 0 || buf_put(&aad, ":", 1) < 0) goto out;
                    hit = hit || keyhit;
                }
            }
            if (ch == '{' || ch == '[') {
                if (depth >= MAXDEPTH) goto out;
                st->is_obj[depth] = ch == '{';
                st->aadlen[depth] = aad.len;
                st->hit[depth] = (char)hit;
                depth++;
                t.i++;
                state = ch == '{' ? 0 : 2;
                continue;
            }
            int work = c && !in_sops;
            if (ch == '"') {
                if (string_tok(&t, &esc) < 0) goto out;
                const char *v = s + vs + 1;
                Py_ssize_t vn = t.i - vs - 2;
                if (work && should_decrypt(r, hit)) {
                    if (vn > 0) { /* the empty string stays empty, outside the MAC */
                        if (esc) goto out;
                        int type = decrypt_enc(c, v, vn, aad.len ? aad.p : ":", aad.len ? aad.len : 1);
                        if (type < 0) goto out;
                        if (buf_put(o, s + copied, vs - copied) < 0) goto out;
                        copied = t.i;
                        if (json_render_plain(c, type, o) < 0) goto out;
                    }
                } else if (work) {
                    /* text that is not UTF-8 is refused by the Python path */
                    if (!valid_utf8((const unsigned char *)v, vn)) goto out;
                    if (!r->mac_only) {
                        if (esc) { /* the MAC takes the value, escapes decoded */
                            tmp.len = 0;
                            if (json_unescape(&tmp, v, vn) < 0 || mac_update(c, tmp.p, tmp.len) < 0) goto out;
                        } else if (mac_update(c, v, vn) < 0) goto out;
                    }
                }
            } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
                if (number_tok(&t) < 0 || !at_delim(&t) || !number_finite(s + vs, t.i - vs)) goto out;
                if (work) {
                    if (should_decrypt(r, hit)) goto out; /* plain where it should be encrypted */
                    if (!r->mac_only) {
                        char mb[512];
                        if (float_mac_bytes(s + vs, t.i - vs, mb, sizeof mb) < 0) goto out;
                        if (mac_update(c, mb, (Py_ssize_t)strlen(mb)) < 0) goto out;
                    }
                }
            } else if (starts(s + t.i, n - t.i, "true") || starts(s + t.i, n - t.i, "false")) {
                int tv = ch == 't';
                t.i += tv ? 4 : 5;
                if (!at_delim(&t)) goto out;
                if (work) {
                    if (should_decrypt(r, hit)) goto out;
                    if (!r->mac_only && mac_update(c, tv ? "True" : "False", tv ? 4 : 5) < 0) goto out;
                }
            } else if (starts(s + t.i, n - t.i, "null")) {
                t.i += 4;
                if (!at_delim(&t)) goto out;
            } else goto out;
            if (depth == 1) prev_end = t.i;
            state = 4;
            continue;
        }
    close:
        t.i++;
        depth--;
        if (in_sops && depth + 1 == in_sops) {
            in_sops = 0;
            sm.value_end = t.i;
        }
        if (depth == 0) break;
        if (depth == 1) prev_end = t.i;
        state = 4;
    }
    close_pos = t.i - 1;
    ws(&t);
    if (t.i != n || !found) goto out;
    if (!c) {
        /* the next member starts at the next '"' (only blanks and a comma lie between) */
        sm.after_limit = close_pos;
        for (Py_ssize_t i = sm.value_end; i < close_pos; i++)
            if (s[i] == '"') { sm.after_limit = i; break; }
        *sops = sm;
    } else {
        /* the member to cut must be the one this pass found */
        if (sm.limit != sops->limit || sm.key_start != sops->key_start || sm.value_start != sops->value_start ||
            sm.value_end != sops->value_end) goto out;
        for (int k = 0; k < ncut; k++) {
            if (cut[k][0] < copied) goto out;
            if (buf_put(o, s + copied, cut[k][0] - copied) < 0) goto out;
            copied = cut[k][1];
        }
        if (buf_put(o, s + copied, n - copied) < 0) goto out;
    }
    rc = 0;
out:
    buf_free(&aad);
    buf_free(&keybuf);
    buf_free(&tmp);
    PyMem_Free(st);
    return rc;
}

/* ---- dotenv -------------------------------------------------------------------------------- */

/*
 * sops's line format as DotenvStore reads it: "\n"-separated lines; "" blank; "#..." comment;
 * KEY=VALUE with the key before the first '='; "sops_*" keys are metadata. Lines the Python
 * store treats specially (leading whitespace, no '=', a value opening a quote that may span
 * lines, "#ENC[" comments) make this code decline the file.
 */

static int is_ws(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f'; }

/* Calls back per entry line. mode 0: collect sops_ lines into list; mode 1: decrypt into o. */
static int dotenv_pass(const char *s, Py_ssize_t n, PyObject *meta, crypt_t *c, const rule_t *r, buf_t *o) {
    Py_ssize_t i = 0;
    int any_out = 0, had_meta = 0, final_nl = n > 0 && s[n - 1] == '\n';
    Py_ssize_t end_all = final_nl ? n - 1 : n; /* the last "\n" ends the last line */
    buf_t aad = {0};
    int rc = -1;
    if (n == 0) goto out;
    while (i <= end_all) {
        const char *nl = memchr(s + i, '\n', (size_t)(end_all - i));
        Py_ssize_t le = nl ? nl - s : end_all;
        const char *line = s + i;
        Py_ssize_t ll = le - i;
        Py_ssize_t next = le + 1;
        int emit = 1; /* whether this line is part of the plaintext output */
        if (ll > 0 && line[0] == '#') {
            if (starts(line, ll, "#ENC[AES256_GCM,") && c) {
                /* a comment sops encrypted: its AAD is the root path ":" */
                if (decrypt_enc(c, line + 1, ll - 1, ":", 1) != T_COMMENT) goto out;
                if (any_out && buf_put(o, "\n", 1) < 0) goto out;
                if (buf_put(o, "#", 1) < 0 || buf_put(o, c->pt.p, c->pt.len) < 0) goto out;
                any_out = 1;
                emit = 0;
            }
        } else if (ll > 0) {
            const char *eq = memchr(line, '=', (size_t)ll);
            if (!eq) goto out;
            if (is_ws(line[0])) {
                /* an entry unless only blanks or a comment follow (Python's str.lstrip also
                   strips \x1c-\x1f and non-ASCII spaces: leave those lines to it) */
                Py_ssize_t k = 0;
                while (k < ll && is_ws(line[k])) k++;
                unsigned char f = k < ll ? (unsigned char)line[k] : 0;
                if (k == ll || f == '#' || f >= 0x80 || (f >= 0x1c && f <= 0x1f)) goto out;
            }
            Py_ssize_t kl = eq - line;
            const char *v = eq + 1;
            Py_ssize_t vl = ll - kl - 1;
            if (starts(line, kl, "sops_")) {
                emit = 0;
                had_meta = 1;
                if (meta) {
                    PyObject *pair = Py_BuildValue("(y#y#)", line + 5, kl - 5, v, vl);
                    if (!pair) { PyErr_Clear(); goto out; }
                    int bad = PyList_Append(meta, pair);
                    Py_DECREF(pair);
                    if (bad) { PyErr_Clear(); goto out; }
                }
            } else if (vl > 0 && (v[0] == ' ' || v[0] == '\t' || v[0] == '"' || v[0] == '\'' || v[0] == '`')) {
                goto out; /* may open a multi-line value */
            } else if (c) {
                if (!valid_utf8((const unsigned char *)line, kl)) goto out;
                int hit = key_hits(r, line, kl);
                if (should_decrypt(r, hit)) {
                    if (vl > 0) {
                        aad.len = 0;
                        if (buf_put(&aad, line, kl) < 0 || buf_put(&aad, ":", 1) < 0) goto out;
                        int type = decrypt_enc(c, v, vl, aad.p, aad.len);
                        if (type != T_STR) goto out;
                        if (any_out && buf_put(o, "\n", 1) < 0) goto out;
                        if (buf_put(o, line, kl + 1) < 0) goto out;
                        /* a newline in a value is written as \n */
                        const char *pt = c->pt.p, *pe = pt + c->pt.len, *q = pt;
                        while (q < pe) {
                            const char *f = memchr(q, '\n', (size_t)(pe - q));
                            Py_ssize_t seg = f ? f - q : pe - q;
                            if (buf_put(o, q, seg) < 0) goto out;
                            if (!f) break;
                            if (buf_put(o, "\\n", 2) < 0) goto out;
                            q = f + 1;
                        }
                        if (mac_update(c, pt, c->pt.len) < 0) goto out;
                        any_out = 1;
                        emit = 0;
                    }
                } else if (!r->mac_only) {
                    /* the value's meaning: "\n" in the raw text is a newline */
                    const char *q = v, *ve = v + vl;
                    while (q < ve) {
                        const char *b = memchr(q, '\\', (size_t)(ve - q));
                        if (!b || b + 1 >= ve) { if (mac_update(c, q, ve - q) < 0) goto out; break; }
                        if (b[1] == 'n') {
                            if (mac_update(c, q, b - q) < 0 || mac_update(c, "\n", 1) < 0) goto out;
                            q = b + 2;
                        } else {
                            if (mac_update(c, q, b + 1 - q) < 0) goto out;
                            q = b + 1;
                        }
                    }
                }
            }
        }
        if (emit && c) {
            if (any_out && buf_put(o, "\n", 1) < 0) goto out;
            if (buf_put(o, line, ll) < 0) goto out;
            any_out = 1;
        }
        if (!nl) break;
        i = next;
    }
    if (c && any_out && (final_nl || had_meta) && buf_put(o, "\n", 1) < 0) goto out;
    if (!had_meta) goto out;
    rc = 0;
out:
    buf_free(&aad);
    return rc;
}

/* ---- Python bindings ----------------------------------------------------------------------- */

static PyObject *py_json_locate(PyObject *self, PyObject *args) {
    Py_buffer data;
    member_t m;
    int rc;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    rc = json_pass(data.buf, data.len, &m, NULL, NULL, NULL);
    PyBuffer_Release(&data);
    if (rc < 0) Py_RETURN_NONE;
    return Py_BuildValue("(nnnnn)", m.limit, m.key_start, m.value_start, m.value_end, m.after_limit);
}

static PyObject *finish(int rc, crypt_t *c, buf_t *o) {
    PyObject *res = NULL;
    if (rc == 0) {
        PyObject *hex = mac_hex(c);
        PyObject *out = hex ? PyBytes_FromStringAndSize(o->p ? o->p : "", o->len) : NULL;
        if (hex && out && hex != Py_None) res = PyTuple_Pack(2, out, hex);
        Py_XDECREF(hex);
        Py_XDECREF(out);
        if (!res) PyErr_Clear();
    }
    crypt_close(c);
    buf_free(o);
    if (!res) Py_RETURN_NONE;
    return res;
}

/* Decrypts a whole file with one data key and rule: the JSON pass when m is given, else the
   dotenv pass. Releases the buffers; returns (plaintext file, MAC hex) or None. */
static PyObject *decrypt_file(Py_buffer *data, Py_buffer *key, Py_buffer *suffix, int encrypted_suffix,
                              int mac_only, Py_buffer *prefix, member_t *m) {
    crypt_t c = {0};
    buf_t o = {0};
    rule_t r = {encrypted_suffix, suffix->buf, suffix->len, mac_only};
    int rc = -1;
    /* a member must be one json_locate could have given for this data */
    int sane = !m || (0 <= m->limit && m->limit <= m->key_start && m->key_start < m->value_start &&
                      m->value_start < m->value_end && m->value_end <= m->after_limit &&
                      m->after_limit < data->len);
    if (sane && crypt_open(&c, key->buf, key->len) == 0 && mac_update(&c, prefix->buf, prefix->len) == 0)
        rc = m ? json_pass(data->buf, data->len, m, &c, &r, &o) : dotenv_pass(data->buf, data->len, NULL, &c, &r, &o);
    PyBuffer_Release(data);
    PyBuffer_Release(key);
    PyBuffer_Release(suffix);
    PyBuffer_Release(prefix);
    return finish(rc, &c, &o);
}

static PyObject *py_json_decrypt(PyObject *self, PyObject *args) {
    Py_buffer data, key, suffix, prefix;
    int encrypted_suffix, mac_only;
    member_t m;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*ppy*(nnnnn)", &data, &key, &suffix, &encrypted_suffix, &mac_only, &prefix,
                          &m.limit, &m.key_start, &m.value_start, &m.value_end, &m.after_limit))
        return NULL;
    return decrypt_file(&data, &key, &suffix, encrypted_suffix, mac_only, &prefix, &m);
}

static PyObject *py_dotenv_locate(PyObject *self, PyObject *args) {
    Py_buffer data;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    PyObject *meta = PyList_New(0);
    if (!meta) { PyBuffer_Release(&data); return NULL; }
    int rc = dotenv_pass(data.buf, data.len, meta, NULL, NULL, NULL);
    PyBuffer_Release(&data);
    if (rc < 0) { Py_DECREF(meta); Py_RETURN_NONE; }
    return meta;
}

static PyObject *py_dotenv_decrypt(PyObject *self, PyObject *args) {
    Py_buffer data, key, suffix, prefix;
    int encrypted_suffix, mac_only;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*ppy*", &data, &key, &suffix, &encrypted_suffix, &mac_only, &prefix))
        return NULL;
    return decrypt_file(&data, &key, &suffix, encrypted_suffix, mac_only, &prefix, NULL);
}

static PyObject *py_decrypt_value(PyObject *self, PyObject *args) {
    Py_buffer key, enc, aad;
    crypt_t c = {0};
    PyObject *res = NULL;
    static const char *names[] = {"str", "int", "float", "bool", "comment"};
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*", &key, &enc, &aad)) return NULL;
    if (crypt_open(&c, key.buf, key.len) == 0) {
        int type = decrypt_enc(&c, enc.buf, enc.len, aad.buf, aad.len);
        if (type >= 0 && type < T_OTHER)
            res = Py_BuildValue("(y#s)", c.pt.p ? c.pt.p : "", c.pt.len, names[type]);
    }
    crypt_close(&c);
    PyBuffer_Release(&key);
    PyBuffer_Release(&enc);
    PyBuffer_Release(&aad);
    if (!res) { PyErr_Clear(); Py_RETURN_NONE; }
    return res;
}

static PyMethodDef methods[] = {
    {"json_locate", py_json_locate, METH_VARARGS,
     "json_locate(data) -> (limit, key_start, value_start, value_end, after_limit) of the top-level "
     "\"sops\" member, or None when the file is not plain JSON this module handles."},
    {"json_decrypt", py_json_decrypt, METH_VARARGS,
     "json_decrypt(data, key, suffix, encrypted_suffix, mac_only, mac_prefix, member) -> "
     "(plaintext file, MAC hex) or None."},
    {"dotenv_locate", py_dotenv_locate, METH_VARARGS,
     "dotenv_locate(data) -> [(name after sops_, raw value)] or None."},
    {"dotenv_decrypt", py_dotenv_decrypt, METH_VARARGS,
     "dotenv_decrypt(data, key, suffix, encrypted_suffix, mac_only, mac_prefix) -> "
     "(plaintext file, MAC hex) or None."},
    {"decrypt_value", py_decrypt_value, METH_VARARGS,
     "decrypt_value(key, enc, aad) -> (plaintext, type tag) or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_native", "Native whole-file decryption of sops JSON and dotenv files.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    b64_init();
    return PyModule_Create(&moduledef);
}

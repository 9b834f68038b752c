/*-------------------------------------------------------------------------
 *
 * forest_ubjson.c
 *	  The streaming UBJSON reader that feeds the XGBoost model compiler.
 *
 * The reader walks the document that libxgboost wrote, byte by byte, and
 * hands each object member, array element and scalar to the compiler
 * (forest_compile.c) as it goes; no document tree is built.  Every byte is
 * read with a bounds check, and every length or count is no larger than
 * what is left, so a corrupted document is an ERROR and reading stays
 * linear in its size.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bswap.h"

#include "serve/forest_internal.h"

/* deepest nesting accepted (the model document needs 8) */
#define UBJ_MAX_DEPTH 64

/*
 * Take the next n bytes; running past the end is an error.
 */
const uint8 *
ForestUbjTake(UbjReader *r, size_t n)
{
	const uint8 *p;

	if (r->len - r->pos < n)
		CORRUPTED("Its UBJSON ends early at byte %zu of %zu.", r->pos, r->len);
	p = r->buf + r->pos;
	r->pos += n;
	return p;
}

/*
 * The payload size of a numeric or boolean marker; -1 for other markers.
 */
static int
UbjScalarSize(uint8 marker)
{
	switch (marker)
	{
		case 'T':
		case 'F':
			return 0;
		case 'i':
		case 'U':
		case 'C':
			return 1;
		case 'I':
			return 2;
		case 'l':
		case 'd':
			return 4;
		case 'L':
		case 'D':
			return 8;
		default:
			return -1;
	}
}

/*
 * A numeric or boolean value (big-endian, as UBJSON stores it) as a double.
 */
static double
UbjScalar(UbjReader *r, uint8 marker)
{
	const uint8 *p = ForestUbjTake(r, UbjScalarSize(marker));
	uint16		u16;
	uint32		u32;
	uint64		u64;
	float		f;
	double		d;

	switch (marker)
	{
		case 'T':
			return 1;
		case 'F':
			return 0;
		case 'i':
			return (int8) p[0];
		case 'U':
		case 'C':
			return p[0];
		case 'I':
			memcpy(&u16, p, sizeof(u16));
			return (int16) pg_ntoh16(u16);
		case 'l':
			memcpy(&u32, p, sizeof(u32));
			return (int32) pg_ntoh32(u32);
		case 'L':
			memcpy(&u64, p, sizeof(u64));
			return (double) (int64) pg_ntoh64(u64);
		case 'd':
			memcpy(&u32, p, sizeof(u32));
			u32 = pg_ntoh32(u32);
			memcpy(&f, &u32, sizeof(f));
			return f;
		case 'D':
			memcpy(&u64, p, sizeof(u64));
			u64 = pg_ntoh64(u64);
			memcpy(&d, &u64, sizeof(d));
			return d;
	}
	elog(ERROR, "unexpected UBJSON marker %d", marker);
	pg_unreachable();
}

/*
 * A length or count: an integer marker and value, no larger than the bytes
 * left (every item takes at least one), so reading stays linear in the
 * document's size.
 */
static size_t
UbjCount(UbjReader *r)
{
	uint8		marker = *ForestUbjTake(r, 1);
	double		v;

	if (marker != 'i' && marker != 'U' && marker != 'I' && marker != 'l' && marker != 'L')
		CORRUPTED("Its UBJSON has marker 0x%02x where a length belongs, at byte %zu.", marker, r->pos - 1);
	v = UbjScalar(r, marker);
	if (v < 0 || v > r->len - r->pos)
		CORRUPTED("Its UBJSON declares %.0f items at byte %zu, with %zu bytes left.", v, r->pos, r->len - r->pos);
	return (size_t) v;
}

/*
 * The items of an object or array whose opening marker was read: an
 * optional $type and #count header, then keyed or plain items up to the
 * count or the closing marker.
 */
static void
UbjContainer(UbjReader *r, bool object, int depth)
{
	uint8		type = 0;
	size_t		count = 0;
	bool		counted = false;
	uint8		next = *ForestUbjTake(r, 1);

	if (next == '$')
	{
		type = *ForestUbjTake(r, 1);
		if (*ForestUbjTake(r, 1) != '#')
			CORRUPTED("Its UBJSON has a typed container without a count, at byte %zu.", r->pos - 1);
		next = '#';
	}
	if (next == '#')
	{
		count = UbjCount(r);
		counted = true;
	}
	else
		r->pos--;

	for (size_t i = 0; !counted || i < count; i++)
	{
		if (!counted)
		{
			if (*ForestUbjTake(r, 1) == (object ? '}' : ']'))
				return;
			r->pos--;
		}
		if (object)
		{
			size_t		n = UbjCount(r);

			ForestCompileFieldStart(r->s, (const char *) ForestUbjTake(r, n), n);
		}
		else
			ForestPathPush(r->s, KEY_ELEMENT);
		ForestUbjValue(r, type != 0 ? type : *ForestUbjTake(r, 1), depth + 1);
		ForestCompilePop(r->s);
	}
}

/*
 * One value whose marker was read, fed to the compiler.
 */
void
ForestUbjValue(UbjReader *r, uint8 marker, int depth)
{
	size_t		n;

	if (depth > UBJ_MAX_DEPTH)
		CORRUPTED("Its UBJSON nests deeper than %d levels.", UBJ_MAX_DEPTH);
	switch (marker)
	{
		case '{':
			ForestCompileObjectStart(r->s);
			UbjContainer(r, true, depth);
			ForestCompileObjectEnd(r->s);
			break;
		case '[':
			UbjContainer(r, false, depth);
			break;
		case 'S':
		case 'H':
			n = UbjCount(r);
			ForestCompileScalar(r->s, SCALAR_STRING, 0, (const char *) ForestUbjTake(r, n), n);
			break;
		case 'Z':
			ForestCompileScalar(r->s, SCALAR_NULL, 0, NULL, 0);
			break;
		default:
			if (UbjScalarSize(marker) < 0)
				CORRUPTED("Its UBJSON has an unknown marker 0x%02x at byte %zu.", marker, r->pos - 1);
			ForestCompileScalar(r->s, SCALAR_NUMBER, UbjScalar(r, marker), NULL, 0);
			break;
	}
}

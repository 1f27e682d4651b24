using System;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using AttentionGen.CompilerServices;

namespace AttentionGen;

/// <summary>
/// The keys and values of the tokens seen so far, per batch entry and key/value head: what a decoder attends to when it
/// generates one token at a time. Append each new token's keys and values, then call the generated
/// <c>Forward(query, cache, output, batch, queryLength)</c> of an attention type whose dims match.
/// </summary>
/// <remarks>
/// <para>
/// Batch entries may hold different numbers of tokens (a ragged batch): <see cref="Append(ReadOnlySpan{float}, ReadOnlySpan{float}, int)"/>
/// adds the same number of tokens to every entry, <see cref="Append(int, ReadOnlySpan{float}, ReadOnlySpan{float}, int)"/> to one.
/// A <c>Forward</c> call aligns each entry's queries with the end of that entry's tokens.
/// </para>
/// <para>
/// Storage is one block per key/value head of each entry, <c>[capacity, headDim]</c> floats (or halves), allocated once,
/// pinned and 64-byte aligned, so a decoding step reads each head's keys and values as two sequential streams. On
/// Linux the storage is advised for transparent huge pages before it is first written, so that those streams do not
/// walk the page tables every 4 KiB.
/// Reading from several threads at once is safe; appending while another thread reads is not.
/// </para>
/// </remarks>
public sealed class KvCache
{
    private const int Alignment = 64;

    private readonly Storage _keys;
    private readonly Storage _values;
    private readonly long[] _appended;
    private long _version;

    /// <summary>Creates an empty cache that throws when an append does not fit.</summary>
    /// <param name="batch">Batch entries, at least 1.</param>
    /// <param name="kvHeads">Key/value heads, at least 1: the attention type's <c>KvHeads</c>.</param>
    /// <param name="headDim">Size of a key head, at least 1: the attention type's <c>HeadDim</c>.</param>
    /// <param name="valueDim">Size of a value head, at least 1: the attention type's <c>ValueDim</c>.</param>
    /// <param name="capacity">Tokens each batch entry can hold, at least 1.</param>
    /// <param name="precision">How keys and values are stored.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is less than 1, or the cache would not fit in one array.</exception>
    public KvCache(int batch, int kvHeads, int headDim, int valueDim, int capacity, KvCachePrecision precision = KvCachePrecision.Single)
        : this(batch, kvHeads, headDim, valueDim, capacity, precision, KvCacheOverflow.Throw)
    {
    }

    /// <summary>Creates an empty cache with the given overflow behaviour, such as a ring for a sliding-window model.</summary>
    /// <param name="batch">Batch entries, at least 1.</param>
    /// <param name="kvHeads">Key/value heads, at least 1: the attention type's <c>KvHeads</c>.</param>
    /// <param name="headDim">Size of a key head, at least 1: the attention type's <c>HeadDim</c>.</param>
    /// <param name="valueDim">Size of a value head, at least 1: the attention type's <c>ValueDim</c>.</param>
    /// <param name="capacity">
    /// Tokens each batch entry can hold, at least 1. For a ring (<see cref="KvCacheOverflow.EvictOldest"/>) it must cover
    /// what the newest queries look back at: <c>WindowLeft + queryLength</c> tokens.
    /// </param>
    /// <param name="precision">How keys and values are stored.</param>
    /// <param name="overflow">What an append that does not fit does.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is less than 1, an enum value is undefined, or the cache would not fit in one array.</exception>
    public KvCache(int batch, int kvHeads, int headDim, int valueDim, int capacity, KvCachePrecision precision, KvCacheOverflow overflow)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(kvHeads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(headDim, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(valueDim, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        if (precision is not (KvCachePrecision.Single or KvCachePrecision.Half))
        {
            throw new ArgumentOutOfRangeException(nameof(precision), precision, "precision must be KvCachePrecision.Single or KvCachePrecision.Half.");
        }

        if (overflow is not (KvCacheOverflow.Throw or KvCacheOverflow.EvictOldest))
        {
            throw new ArgumentOutOfRangeException(nameof(overflow), overflow, "overflow must be KvCacheOverflow.Throw or KvCacheOverflow.EvictOldest.");
        }

        Batch = batch;
        KvHeads = kvHeads;
        HeadDim = headDim;
        ValueDim = valueDim;
        Capacity = capacity;
        Precision = precision;
        Overflow = overflow;
        Int128 slots = AttentionValidation.Elements(batch, kvHeads, capacity, 1);
        _keys = new Storage(slots, headDim, precision, nameof(capacity));
        _values = new Storage(slots, valueDim, precision, nameof(capacity));
        _appended = new long[batch];
    }

    /// <summary>Batch entries.</summary>
    public int Batch { get; }

    /// <summary>Key/value heads.</summary>
    public int KvHeads { get; }

    /// <summary>Size of a key head.</summary>
    public int HeadDim { get; }

    /// <summary>Size of a value head.</summary>
    public int ValueDim { get; }

    /// <summary>Tokens each batch entry can hold.</summary>
    public int Capacity { get; }

    /// <summary>How keys and values are stored.</summary>
    public KvCachePrecision Precision { get; }

    /// <summary>What an append that does not fit does.</summary>
    public KvCacheOverflow Overflow { get; }

    /// <summary>
    /// Tokens held by each batch entry; in a ragged batch, by the longest entry. See <see cref="GetLength(int)"/> for one
    /// entry.
    /// </summary>
    public int Length
    {
        get
        {
            int longest = 0;
            for (int b = 0; b < Batch; b++)
            {
                longest = Math.Max(longest, HeldLength(b));
            }

            return longest;
        }
    }

    /// <summary>The tokens batch entry <paramref name="batchIndex"/> holds, at most <see cref="Capacity"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchIndex"/> is outside [0, Batch).</exception>
    public int GetLength(int batchIndex)
    {
        CheckBatchIndex(batchIndex);
        return HeldLength(batchIndex);
    }

    /// <summary>
    /// The tokens appended to batch entry <paramref name="batchIndex"/> since it was last cleared, evicted ones included:
    /// the position the next token takes, for positional encodings. Equals <see cref="GetLength(int)"/> until a ring evicts.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchIndex"/> is outside [0, Batch).</exception>
    public long GetSequenceLength(int batchIndex)
    {
        CheckBatchIndex(batchIndex);
        return _appended[batchIndex];
    }

    /// <summary>Appends <paramref name="tokens"/> tokens to every batch entry.</summary>
    /// <param name="key">The new keys, <c>[batch, tokens, kvHeads, headDim]</c>. A longer span is fine: only its prefix is read.</param>
    /// <param name="value">The new values, <c>[batch, tokens, kvHeads, valueDim]</c>.</param>
    /// <param name="tokens">Tokens per batch entry, 0 or more.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokens"/> is negative.</exception>
    /// <exception cref="ArgumentException">
    /// A span is shorter than its shape needs, or a Half cache is given an infinity or NaN (finite values beyond ±65504 are
    /// stored as ±65504). Nothing has been appended.
    /// </exception>
    /// <exception cref="InvalidOperationException">
    /// The cache throws on overflow and some entry has no room for <paramref name="tokens"/> more. Nothing has been appended.
    /// </exception>
    public void Append(ReadOnlySpan<float> key, ReadOnlySpan<float> value, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        CheckSpan(key.Length, nameof(key), "[batch, tokens, kvHeads, headDim]", Batch, tokens, HeadDim);
        CheckSpan(value.Length, nameof(value), "[batch, tokens, kvHeads, valueDim]", Batch, tokens, ValueDim);
        CheckFinite(key[..(Batch * tokens * KvHeads * HeadDim)], nameof(key));
        CheckFinite(value[..(Batch * tokens * KvHeads * ValueDim)], nameof(value));
        for (int b = 0; b < Batch; b++)
        {
            CheckRoom(b, tokens);
        }

        int keyEntry = tokens * KvHeads * HeadDim, valueEntry = tokens * KvHeads * ValueDim;
        for (int b = 0; b < Batch; b++)
        {
            Write(b, key.Slice(b * keyEntry, keyEntry), value.Slice(b * valueEntry, valueEntry), tokens);
        }
    }

    /// <summary>Appends <paramref name="tokens"/> tokens to batch entry <paramref name="batchIndex"/> alone, for ragged batches.</summary>
    /// <param name="batchIndex">The entry, in [0, Batch).</param>
    /// <param name="key">The new keys, <c>[tokens, kvHeads, headDim]</c>. A longer span is fine: only its prefix is read.</param>
    /// <param name="value">The new values, <c>[tokens, kvHeads, valueDim]</c>.</param>
    /// <param name="tokens">Tokens to append, 0 or more.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchIndex"/> is outside [0, Batch), or <paramref name="tokens"/> is negative.</exception>
    /// <exception cref="ArgumentException">
    /// A span is shorter than its shape needs, or a Half cache is given an infinity or NaN (finite values beyond ±65504 are
    /// stored as ±65504). Nothing has been appended.
    /// </exception>
    /// <exception cref="InvalidOperationException">
    /// The cache throws on overflow and the entry has no room for <paramref name="tokens"/> more. Nothing has been appended.
    /// </exception>
    public void Append(int batchIndex, ReadOnlySpan<float> key, ReadOnlySpan<float> value, int tokens)
    {
        CheckBatchIndex(batchIndex);
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        CheckSpan(key.Length, nameof(key), "[tokens, kvHeads, headDim]", 1, tokens, HeadDim);
        CheckSpan(value.Length, nameof(value), "[tokens, kvHeads, valueDim]", 1, tokens, ValueDim);
        CheckFinite(key[..(tokens * KvHeads * HeadDim)], nameof(key));
        CheckFinite(value[..(tokens * KvHeads * ValueDim)], nameof(value));
        CheckRoom(batchIndex, tokens);
        Write(batchIndex, key, value, tokens);
    }

    /// <summary>Empties every batch entry. The memory is kept for reuse.</summary>
    public void Clear()
    {
        BumpVersion(); // before and after the write (see Version)
        Array.Clear(_appended);
        BumpVersion();
    }

    /// <summary>Empties batch entry <paramref name="batchIndex"/>, for a batch slot that starts a new sequence.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchIndex"/> is outside [0, Batch).</exception>
    public void Clear(int batchIndex)
    {
        CheckBatchIndex(batchIndex);
        BumpVersion();
        _appended[batchIndex] = 0;
        BumpVersion();
    }

    /// <summary>
    /// Copies the keys batch entry <paramref name="batchIndex"/> holds, oldest first, as floats:
    /// <c>[kvHeads, GetLength(batchIndex), headDim]</c>, the layout of ONNX's <c>present_key</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchIndex"/> is outside [0, Batch).</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short.</exception>
    public void CopyKeys(int batchIndex, Span<float> destination) => Copy(_keys, batchIndex, destination, nameof(destination));

    /// <summary>
    /// Copies the values batch entry <paramref name="batchIndex"/> holds, oldest first, as floats:
    /// <c>[kvHeads, GetLength(batchIndex), valueDim]</c>, the layout of ONNX's <c>present_value</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchIndex"/> is outside [0, Batch).</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short.</exception>
    public void CopyValues(int batchIndex, Span<float> destination) => Copy(_values, batchIndex, destination, nameof(destination));

    /// <summary>Where batch entry <paramref name="batchIndex"/>'s tokens lie in its ring of slots.</summary>
    internal KvCacheSegments GetSegments(int batchIndex)
    {
        int length = HeldLength(batchIndex);
        int firstSlot = (int)((_appended[batchIndex] - length) % Capacity);
        return new KvCacheSegments(length, firstSlot, Math.Min(length, Capacity - firstSlot));
    }

    /// <summary>The first float of key/value head <paramref name="kvHead"/>'s slot <paramref name="slot"/> in entry <paramref name="batchIndex"/>; Single only.</summary>
    internal ref float SingleKey(int batchIndex, int kvHead, int slot) => ref _keys.Single(SlotIndex(batchIndex, kvHead, slot));

    /// <summary>The first float of a value slot; Single only.</summary>
    internal ref float SingleValue(int batchIndex, int kvHead, int slot) => ref _values.Single(SlotIndex(batchIndex, kvHead, slot));

    /// <summary>
    /// Changes with every append and clear, so that a copy of the cache's contents knows when it is stale, and a read
    /// knows that another thread wrote the cache under it: it goes up once before a write and once after, so it is
    /// odd while a write is under way.
    /// </summary>
    internal long Version => Volatile.Read(ref _version);

    /// <summary>Whether a read that began at <paramref name="version"/> may have overlapped a write.</summary>
    internal bool WrittenSince(long version) => (version & 1) != 0 || Version != version;

    private void BumpVersion() => Volatile.Write(ref _version, _version + 1);

    /// <summary>What a Forward call throws when another thread appended to or cleared the cache while it read it.</summary>
    internal static InvalidOperationException ConcurrentWrite(Exception? inner) => new(
        "The KvCache was appended to or cleared while Forward read it, so the output is not to be trusted. A cache may be read by several threads at once, but not written while any thread reads it.",
        inner);

    /// <summary>The first half of a key slot, as its bits; Half only.</summary>
    internal ref ushort HalfKey(int batchIndex, int kvHead, int slot) => ref _keys.Half(SlotIndex(batchIndex, kvHead, slot));

    /// <summary>The first half of a value slot, as its bits; Half only.</summary>
    internal ref ushort HalfValue(int batchIndex, int kvHead, int slot) => ref _values.Half(SlotIndex(batchIndex, kvHead, slot));

    /// <summary>
    /// Writes entry <paramref name="batchIndex"/>'s keys of head <paramref name="kvHead"/>, oldest first, as floats to
    /// <paramref name="keys"/> (<c>GetLength(b) · HeadDim</c>) and its values to <paramref name="values"/>: the ring's
    /// two runs put in order, halves widened.
    /// </summary>
    internal void Linearize(int batchIndex, int kvHead, Span<float> keys, Span<float> values)
    {
        ReadHead(_keys, batchIndex, kvHead, keys);
        ReadHead(_values, batchIndex, kvHead, values);
    }

    /// <summary>Reads one head of one entry from <paramref name="storage"/>, oldest token first: the ring's two runs in order.</summary>
    private void ReadHead(Storage storage, int batchIndex, int kvHead, Span<float> destination)
    {
        KvCacheSegments segments = GetSegments(batchIndex);
        storage.Read(SlotIndex(batchIndex, kvHead, segments.FirstSlot), segments.FirstLength, destination);
        if (segments.Length > segments.FirstLength)
        {
            storage.Read(SlotIndex(batchIndex, kvHead, 0), segments.Length - segments.FirstLength, destination[(segments.FirstLength * storage.Dim)..]);
        }
    }

    /// <summary>Widens <paramref name="count"/> key slots from <paramref name="slot"/> on into <paramref name="destination"/>; Half only.</summary>
    internal void WidenKeys(int batchIndex, int kvHead, int slot, int count, ref float destination) =>
        KernelMath.WidenFiniteHalf(ref _keys.Half(SlotIndex(batchIndex, kvHead, slot)), ref destination, count * HeadDim);

    /// <summary>Widens <paramref name="count"/> value slots from <paramref name="slot"/> on into <paramref name="destination"/>; Half only.</summary>
    internal void WidenValues(int batchIndex, int kvHead, int slot, int count, ref float destination) =>
        KernelMath.WidenFiniteHalf(ref _values.Half(SlotIndex(batchIndex, kvHead, slot)), ref destination, count * ValueDim);

    /// <summary>The tokens entry <paramref name="batchIndex"/> holds: all it was appended, up to the capacity (a ring evicts the rest).</summary>
    private int HeldLength(int batchIndex) => (int)Math.Min(_appended[batchIndex], Capacity);

    private long SlotIndex(int batchIndex, int kvHead, int slot) => ((long)batchIndex * KvHeads + kvHead) * Capacity + slot;

    private void Write(int batchIndex, ReadOnlySpan<float> key, ReadOnlySpan<float> value, int tokens)
    {
        BumpVersion(); // before and after the write (see Version)
        // A ring keeps only the last Capacity tokens, so earlier ones in the same append are never written.
        int skipped = Math.Max(0, tokens - Capacity);
        long first = _appended[batchIndex] + skipped;
        for (int t = skipped; t < tokens; t++)
        {
            int slot = (int)((first + t - skipped) % Capacity);
            for (int h = 0; h < KvHeads; h++)
            {
                long index = SlotIndex(batchIndex, h, slot);
                _keys.Write(index, key.Slice((t * KvHeads + h) * HeadDim, HeadDim));
                _values.Write(index, value.Slice((t * KvHeads + h) * ValueDim, ValueDim));
            }
        }

        _appended[batchIndex] += tokens;
        BumpVersion();
    }

    private void Copy(Storage storage, int batchIndex, Span<float> destination, string parameter)
    {
        CheckBatchIndex(batchIndex);
        KvCacheSegments segments = GetSegments(batchIndex);
        long needed = (long)KvHeads * segments.Length * storage.Dim;
        if (destination.Length < needed)
        {
            throw new ArgumentException(
                Format("{0} is too short: [kvHeads, length, dim] = [{1}, {2}, {3}] needs {4} elements, but the span has {5}.",
                    parameter, KvHeads, segments.Length, storage.Dim, needed, destination.Length),
                parameter);
        }

        for (int h = 0; h < KvHeads; h++)
        {
            ReadHead(storage, batchIndex, h, destination.Slice(h * segments.Length * storage.Dim));
        }
    }

    private void CheckRoom(int batchIndex, int tokens)
    {
        int held = HeldLength(batchIndex);
        if (Overflow == KvCacheOverflow.Throw && (long)held + tokens > Capacity)
        {
            throw new InvalidOperationException(Format(
                "The cache's capacity is {0} tokens and batch entry {1} holds {2}: appending {3} more would need {4}. Create the cache with a larger capacity, or with KvCacheOverflow.EvictOldest for a sliding-window model. Nothing was appended.",
                Capacity, batchIndex, held, tokens, (long)held + tokens));
        }
    }

    private void CheckSpan(int actual, string parameter, string shape, int batch, int tokens, int dim)
    {
        Int128 expected = AttentionValidation.Elements(batch, tokens, KvHeads, dim);
        if (actual < expected)
        {
            string values = batch == 1 && !shape.StartsWith("[batch", StringComparison.Ordinal)
                ? Format("[{0}, {1}, {2}]", tokens, KvHeads, dim)
                : Format("[{0}, {1}, {2}, {3}]", batch, tokens, KvHeads, dim);
            throw new ArgumentException(
                Format("{0} is too short: {1} = {2} needs {3} elements, but the span has {4}.", parameter, shape, values, expected, actual),
                parameter);
        }
    }

    /// <summary>Half storage holds finite values only: an infinity or NaN is rejected before anything is appended.</summary>
    private void CheckFinite(ReadOnlySpan<float> values, string parameter)
    {
        if (Precision != KvCachePrecision.Half)
        {
            return;
        }

        int index = KernelMath.IndexOfNonFinite(values);
        if (index >= 0)
        {
            throw new ArgumentException(
                Format("{0}[{1}] is {2}, but a Half cache holds finite values only (finite values beyond ±65504 are saturated to ±65504). Nothing was appended.",
                    parameter, index, values[index]),
                parameter);
        }
    }

    private void CheckBatchIndex(int batchIndex)
    {
        if ((uint)batchIndex >= (uint)Batch)
        {
            throw new ArgumentOutOfRangeException(nameof(batchIndex), batchIndex, Format("batchIndex must be from 0 to {0}, but is {1}.", Batch - 1, batchIndex));
        }
    }

    private static string Format(string format, params object[] args) => string.Format(CultureInfo.InvariantCulture, format, args);

    /// <summary>One tensor of the cache: <c>slots × dim</c> floats or halves in one pinned, 64-byte-aligned array.</summary>
    private sealed class Storage
    {
        private readonly float[]? _single;
        private readonly Half[]? _half;
        private readonly int _offset;

        public Storage(Int128 slots, int dim, KvCachePrecision precision, string parameter)
        {
            Dim = dim;
            Int128 elements = slots * dim;
            int elementSize = precision == KvCachePrecision.Single ? sizeof(float) : 2;
            int padding = Alignment / elementSize;
            if (elements > Array.MaxLength - padding)
            {
                throw new ArgumentOutOfRangeException(parameter, Format(
                    "The cache needs {0} elements per tensor (batch · kvHeads · capacity · dim), more than one array holds ({1}).", elements, Array.MaxLength - padding));
            }

            // Uninitialized: a slot is read only after it has been written. Pinned, so the aligned offset holds. Advised
            // for huge pages before anything is written to it (see HugePages).
            if (precision == KvCachePrecision.Single)
            {
                _single = GC.AllocateUninitializedArray<float>((int)elements + padding, pinned: true);
            }
            else
            {
                _half = GC.AllocateUninitializedArray<Half>((int)elements + padding, pinned: true);
            }

            ref byte start = ref _single is not null
                ? ref Unsafe.As<float, byte>(ref MemoryMarshal.GetArrayDataReference(_single))
                : ref Unsafe.As<Half, byte>(ref MemoryMarshal.GetArrayDataReference(_half!));
            _offset = AlignedOffset(ref start, elementSize);
            _ = HugePages.Advise(ref start, ((long)elements + padding) * elementSize);
        }

        public int Dim { get; }

        public ref float Single(long slot) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_single!), (nint)(_offset + slot * Dim));

        public ref ushort Half(long slot) =>
            ref Unsafe.As<Half, ushort>(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_half!), (nint)(_offset + slot * Dim)));

        /// <summary>Stores one slot; Half storage saturates values beyond ±65504 (see <see cref="KernelMath.NarrowToHalf"/>).</summary>
        public void Write(long slot, ReadOnlySpan<float> source)
        {
            if (_single is not null)
            {
                source.CopyTo(MemoryMarshal.CreateSpan(ref Single(slot), Dim));
            }
            else
            {
                KernelMath.NarrowToHalf(source, MemoryMarshal.Cast<ushort, Half>(MemoryMarshal.CreateSpan(ref Half(slot), Dim)));
            }
        }

        /// <summary>Reads <paramref name="slots"/> consecutive slots as floats.</summary>
        public void Read(long slot, int slots, Span<float> destination)
        {
            int count = slots * Dim;
            destination = destination[..count];
            if (_single is not null)
            {
                MemoryMarshal.CreateReadOnlySpan(ref Single(slot), count).CopyTo(destination);
            }
            else
            {
                KernelMath.WidenFiniteHalf(ref Half(slot), ref MemoryMarshal.GetReference(destination), count);
            }
        }

        private static unsafe int AlignedOffset(ref byte start, int elementSize)
        {
            nint address = (nint)Unsafe.AsPointer(ref start);
            return (int)((Alignment - (address & (Alignment - 1))) & (Alignment - 1)) / elementSize;
        }
    }
}

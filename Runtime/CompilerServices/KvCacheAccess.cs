using System;

namespace AttentionGen.CompilerServices;

/// <summary>
/// What a generated kernel reads of a <see cref="KvCache"/>: where each batch entry's tokens lie and the storage of one
/// slot.
/// </summary>
/// <remarks>
/// Each key/value head of each batch entry owns <c>Capacity</c> consecutive slots of <c>HeadDim</c> (or <c>ValueDim</c>)
/// elements. The tokens an entry holds are a contiguous run of slots that may wrap around the end once (in a ring), so
/// a kernel walks at most two runs: <see cref="KvCacheSegments"/> says where they are.
/// </remarks>
internal static class KvCacheAccess
{
    /// <summary>Where batch entry <paramref name="batchIndex"/>'s tokens lie.</summary>
    public static KvCacheSegments GetSegments(KvCache cache, int batchIndex) => cache.GetSegments(batchIndex);

    /// <summary>The first float of a key slot of a Single cache.</summary>
    public static ref float SingleKey(KvCache cache, int batchIndex, int kvHead, int slot) => ref cache.SingleKey(batchIndex, kvHead, slot);

    /// <summary>The first float of a value slot of a Single cache.</summary>
    public static ref float SingleValue(KvCache cache, int batchIndex, int kvHead, int slot) => ref cache.SingleValue(batchIndex, kvHead, slot);

    [ThreadStatic]
    private static Staging? t_staging;

    /// <summary>
    /// Entry <paramref name="batchIndex"/>'s keys and values of head <paramref name="kvHead"/> as consecutive floats, oldest
    /// first: <c>GetLength(b) · HeadDim</c> keys, then <c>GetLength(b) · ValueDim</c> values. A prefill over a Half cache,
    /// or over a ring whose tokens wrap around, runs the row-block kernels on this copy. It is made in this thread's
    /// staging buffer and reused by the thread's next work items for as long as they ask for the same head of the same,
    /// unchanged cache; it stays valid until this thread asks for another.
    /// </summary>
    /// <remarks>The buffer grows to the longest entry staged (4 · length · (HeadDim + ValueDim) bytes) and is kept for reuse.</remarks>
    public static ReadOnlySpan<float> Stage(KvCache cache, int batchIndex, int kvHead)
    {
        Staging staging = t_staging ??= new Staging();
        int length = cache.GetLength(batchIndex);
        int keys = length * cache.HeadDim, size = keys + length * cache.ValueDim;
        if (staging.Cache.TryGetTarget(out KvCache? staged) && ReferenceEquals(staged, cache)
            && staging.Version == cache.Version && staging.BatchIndex == batchIndex && staging.KvHead == kvHead)
        {
            return staging.Buffer.AsSpan(0, size);
        }

        if (staging.Buffer.Length < size)
        {
            // Pinned: the row blocks take elements from the keys' and values' addresses (ISimd.ScalarFrom).
            staging.Buffer = GC.AllocateUninitializedArray<float>(size, pinned: true);
        }

        cache.Linearize(batchIndex, kvHead, staging.Buffer.AsSpan(0, keys), staging.Buffer.AsSpan(keys, size - keys));
        staging.Cache.SetTarget(cache);
        staging.Version = cache.Version;
        staging.BatchIndex = batchIndex;
        staging.KvHead = kvHead;
        return staging.Buffer.AsSpan(0, size);
    }

    /// <summary>A thread's staged copy of one head of one cache entry, and which one it is (weakly, so as not to keep the cache alive).</summary>
    private sealed class Staging
    {
        public readonly WeakReference<KvCache> Cache = new(null!);
        public long Version;
        public int BatchIndex, KvHead;
        public float[] Buffer = Array.Empty<float>();
    }

    /// <summary>The bits of the first half of a key slot of a Half cache.</summary>
    public static ref ushort HalfKey(KvCache cache, int batchIndex, int kvHead, int slot) => ref cache.HalfKey(batchIndex, kvHead, slot);

    /// <summary>The bits of the first half of a value slot of a Half cache.</summary>
    public static ref ushort HalfValue(KvCache cache, int batchIndex, int kvHead, int slot) => ref cache.HalfValue(batchIndex, kvHead, slot);

    /// <summary>
    /// Widens <paramref name="count"/> consecutive key slots of a Half cache, from <paramref name="slot"/> on, to floats at
    /// <paramref name="destination"/> (<c>count · HeadDim</c> of them): exactly, with a faster conversion while the cache
    /// holds only finite values.
    /// </summary>
    public static void WidenKeys(KvCache cache, int batchIndex, int kvHead, int slot, int count, ref float destination) =>
        cache.WidenKeys(batchIndex, kvHead, slot, count, ref destination);

    /// <summary>Widens <paramref name="count"/> consecutive value slots of a Half cache to <c>count · ValueDim</c> floats.</summary>
    public static void WidenValues(KvCache cache, int batchIndex, int kvHead, int slot, int count, ref float destination) =>
        cache.WidenValues(batchIndex, kvHead, slot, count, ref destination);
}

/// <summary>
/// Where one batch entry's tokens lie in its slots: token <c>t</c> (0 = the oldest held) is in slot
/// <c>FirstSlot + t</c> while <c>t &lt; FirstLength</c>, and in slot <c>t - FirstLength</c> after that (a ring that
/// wrapped).
/// </summary>
/// <param name="Length">Tokens held.</param>
/// <param name="FirstSlot">The slot of the oldest token.</param>
/// <param name="FirstLength">Tokens in the first run of slots; equals <paramref name="Length"/> unless the ring wrapped.</param>
internal readonly record struct KvCacheSegments(int Length, int FirstSlot, int FirstLength)
{
    /// <summary>The slot of token <paramref name="token"/>.</summary>
    public int Slot(int token) => token < FirstLength ? FirstSlot + token : token - FirstLength;

    /// <summary>How many tokens from <paramref name="token"/> on lie in consecutive slots, up to <paramref name="count"/>.</summary>
    public int Run(int token, int count) => token < FirstLength ? System.Math.Min(count, FirstLength - token) : count;
}

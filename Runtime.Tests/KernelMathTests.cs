using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.Intrinsics;
using AttentionGen.CompilerServices;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>The vector exp the kernels use: accuracy against Math.Exp, its edge cases, and its form for non-positive arguments.</summary>
public sealed class KernelMathTests
{
    private readonly ITestOutputHelper _output;

    public KernelMathTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Exp_is_within_2_ulp_across_its_range()
    {
        // Every 97th float from -87.33 to 88.37 (about 22 million values), against the correctly rounded result, on the
        // widest accelerated width; without SIMD (software vectors) every 9973rd. Negative floats' bit patterns run
        // from int.MinValue (-0) up as the magnitude grows; positive ones from 0.
        int stride = Vector128.IsHardwareAccelerated ? 97 : 9973;
        int worst = 0;
        float worstAt = 0;
        int lowest = BitConverter.SingleToInt32Bits(-87.33654f), highest = BitConverter.SingleToInt32Bits(88.37626f);
        Span<float> batch = stackalloc float[16];
        Span<float> result = stackalloc float[16];
        int filled = 0;
        for (long bits = int.MinValue; bits <= lowest; bits += stride)
        {
            Add(BitConverter.Int32BitsToSingle((int)bits), batch, result);
        }

        for (long bits = 0; bits <= highest; bits += stride)
        {
            Add(BitConverter.Int32BitsToSingle((int)bits), batch, result);
        }

        _output.WriteLine($"largest error: {worst} ulp, at x = {worstAt:R}");
        Assert.InRange(worst, 0, 2);

        void Add(float x, Span<float> batch, Span<float> result)
        {
            batch[filled++] = x;
            if (filled < 16)
            {
                return;
            }

            filled = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                KernelMath.Exp(Vector512.Create<float>(batch)).CopyTo(result);
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                KernelMath.Exp(Vector256.Create<float>(batch)).CopyTo(result);
                KernelMath.Exp(Vector256.Create<float>(batch[8..])).CopyTo(result[8..]);
            }
            else
            {
                for (int i = 0; i < 16; i += 4)
                {
                    KernelMath.Exp(Vector128.Create<float>(batch[i..])).CopyTo(result[i..]);
                }
            }

            for (int i = 0; i < 16; i++)
            {
                float exact = (float)Math.Exp(batch[i]);
                int ulps = Math.Abs(BitConverter.SingleToInt32Bits(result[i]) - BitConverter.SingleToInt32Bits(exact));
                if (ulps > worst)
                {
                    worst = ulps;
                    worstAt = batch[i];
                }
            }
        }
    }

    [Fact]
    public void Exp_edge_cases()
    {
        float[] inputs = { float.NegativeInfinity, -1000f, -88.5f, -87.7f, -87.3f, 0f, -0f, 1f, 88.3f, float.NaN };
        foreach (float x in inputs)
        {
            float e512 = KernelMath.Exp(Vector512.Create(x)).ToScalar();
            float e256 = KernelMath.Exp(Vector256.Create(x)).ToScalar();
            float e128 = KernelMath.Exp(Vector128.Create(x)).ToScalar();
            Assert.Equal(e512, e256);
            Assert.Equal(e512, e128);
            if (float.IsNaN(x))
            {
                Assert.True(float.IsNaN(e512));
            }
            else if (x <= -87.68f)
            {
                Assert.Equal(0f, e512);
            }
            else
            {
                Assert.InRange(e512, MathF.Exp(x) * (1 - 3e-7f), MathF.Exp(x) * (1 + 3e-7f));
            }
        }

        Assert.Equal(1f, KernelMath.Exp(Vector512<float>.Zero).ToScalar());
        float saturated = KernelMath.Exp(Vector512.Create(88.37626f)).ToScalar();
        Assert.Equal(saturated, KernelMath.Exp(Vector512.Create(200f)).ToScalar());
        Assert.Equal(saturated, KernelMath.Exp(Vector512.Create(float.PositiveInfinity)).ToScalar());
        Assert.True(float.IsFinite(saturated) && saturated > 2e38f);
    }

    [Fact]
    public void ExpNonPositive_is_Exp_bit_for_bit_wherever_it_is_used()
    {
        // Every 61st non-positive float (without SIMD, every 6007th), from -0 down through -infinity (bit patterns
        // int.MinValue up to 0xFF800000), and the NaNs: the arguments the kernels give it (a score minus a maximum at
        // least as large), on every width.
        int stride = Vector128.IsHardwareAccelerated ? 61 : 6007;
        for (long bits = int.MinValue; bits <= unchecked((int)0xFF800000); bits += stride)
        {
            AssertSame(BitConverter.Int32BitsToSingle((int)bits));
        }

        foreach (float x in new[] { -0f, 0f, -87.68f, -88f, -88.00001f, float.NegativeInfinity, float.NaN, -float.NaN })
        {
            AssertSame(x);
        }

        Assert.Equal(0f, KernelMath.ExpNonPositive(Vector256.Create(float.NegativeInfinity)).ToScalar());
        Assert.Equal(1f, KernelMath.ExpNonPositive(Vector256.Create(-0f)).ToScalar());
        Assert.True(float.IsNaN(KernelMath.ExpNonPositive(Vector256.Create(float.NaN)).ToScalar()));

        static void AssertSame(float x)
        {
            int exp = BitConverter.SingleToInt32Bits(KernelMath.Exp(Vector128.Create(x)).ToScalar());
            Assert.Equal(exp, BitConverter.SingleToInt32Bits(KernelMath.ExpNonPositive(Vector512.Create(x)).ToScalar()));
            Assert.Equal(exp, BitConverter.SingleToInt32Bits(KernelMath.ExpNonPositive(Vector256.Create(x)).ToScalar()));
            Assert.Equal(exp, BitConverter.SingleToInt32Bits(KernelMath.ExpNonPositive(Vector128.Create(x)).ToScalar()));
        }
    }

    [Fact]
    public void Soft_cap_matches_tanh_on_every_width()
    {
        foreach (float cap in new[] { 0.5f, 2f, 30f, 50f })
        {
            for (float x = -400f; x <= 400f; x += 0.37f)
            {
                float expected = (float)(cap * Math.Tanh(x / cap));
                Assert.InRange(KernelMath.SoftCap(Vector512.Create(x), cap).ToScalar(), expected - 8e-7f * cap, expected + 8e-7f * cap);
                Assert.InRange(KernelMath.SoftCap(Vector256.Create(x), cap).ToScalar(), expected - 8e-7f * cap, expected + 8e-7f * cap);
                Assert.InRange(KernelMath.SoftCap(Vector128.Create(x), cap).ToScalar(), expected - 8e-7f * cap, expected + 8e-7f * cap);
            }
        }

        Assert.True(float.IsNaN(KernelMath.SoftCap(Vector512.Create(float.NaN), 2f).ToScalar()));
    }

    [Fact]
    public void Copy_rows_packs_strided_rows()
    {
        foreach (int length in new[] { 1, 3, 8, 17, 64, 100 })
        {
            var source = new float[5 * (length + 7)];
            for (int i = 0; i < source.Length; i++)
            {
                source[i] = i;
            }

            var packed = new float[5 * length];
            KernelMath.CopyRows(ref source[0], length + 7, ref packed[0], 5, length);
            for (int row = 0; row < 5; row++)
            {
                Assert.Equal(source.AsSpan(row * (length + 7), length).ToArray(), packed.AsSpan(row * length, length).ToArray());
            }
        }
    }

    [Fact]
    public void Sum_across_adds_every_lane_on_every_width()
    {
        var random = new Random(3);
        for (int trial = 0; trial < 100; trial++)
        {
            float[] lanes = Tensors.Normal(random, 16, 10f);
            double expected = lanes.Sum(x => (double)x);
            double tolerance = 1e-5 * lanes.Sum(x => Math.Abs((double)x));
            Assert.InRange(KernelMath.SumAcross(Vector512.Create(lanes)), expected - tolerance, expected + tolerance);
            Assert.InRange(KernelMath.SumAcross(Vector256.Create(lanes.AsSpan(0, 8))), lanes.Take(8).Sum(x => (double)x) - tolerance, lanes.Take(8).Sum(x => (double)x) + tolerance);
            Assert.InRange(KernelMath.SumAcross(Vector128.Create(lanes.AsSpan(0, 4))), lanes.Take(4).Sum(x => (double)x) - tolerance, lanes.Take(4).Sum(x => (double)x) + tolerance);
        }
    }

    [Fact]
    public void Sum_across_four_gives_each_vector_its_own_lane_on_every_width()
    {
        var random = new Random(4);
        for (int trial = 0; trial < 100; trial++)
        {
            float[][] vectors = Enumerable.Range(0, 4).Select(_ => Tensors.Normal(random, 16, 10f)).ToArray();
            Vector512<float> Wide(int v) => Vector512.Create(vectors[v]);
            Vector256<float> Half(int v) => Vector256.Create(vectors[v].AsSpan(0, 8));
            Vector128<float> Quarter(int v) => Vector128.Create(vectors[v].AsSpan(0, 4));
            AssertSums(vectors, KernelMath.SumAcross4(Wide(0), Wide(1), Wide(2), Wide(3)), 16);
            AssertSums(vectors, KernelMath.SumAcross4(Half(0), Half(1), Half(2), Half(3)), 8);
            AssertSums(vectors, KernelMath.SumAcross4(Quarter(0), Quarter(1), Quarter(2), Quarter(3)), 4);
        }

        static void AssertSums(float[][] vectors, Vector128<float> sums, int length)
        {
            for (int v = 0; v < 4; v++)
            {
                double expected = vectors[v].Take(length).Sum(x => (double)x);
                double tolerance = 1e-5 * vectors[v].Take(length).Sum(x => Math.Abs((double)x));
                Assert.InRange(sums.GetElement(v), expected - tolerance, expected + tolerance);
            }
        }
    }

    [Fact]
    public void Narrowing_to_half_rounds_as_a_cast_does_and_saturates()
    {
        // Every finite float's exponent with fractions that straddle each rounding boundary (the half's ties, subnormal
        // halves, the largest half), both signs, plus values beyond the half range.
        var values = new List<float>();
        var random = new Random(7);
        for (uint exponent = 0; exponent < 255; exponent++)
        {
            foreach (uint fraction in new uint[] { 0, 1, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x3000, 0x7FFFFF, 0x400000, 0x401000, 0x3FF000 })
            {
                values.Add(BitConverter.UInt32BitsToSingle(exponent << 23 | fraction));
                values.Add(-BitConverter.UInt32BitsToSingle(exponent << 23 | fraction));
            }

            for (int i = 0; i < 64; i++)
            {
                values.Add(BitConverter.UInt32BitsToSingle(exponent << 23 | (uint)random.Next(1 << 23)) * (i % 2 == 0 ? 1 : -1));
            }
        }

        values.AddRange([65504f, 65519f, 65520f, 65536f, 1e6f, float.MaxValue, -65520f, -float.MaxValue, 0f, -0f]);
        float[] source = values.ToArray();
        foreach (int offset in new[] { 0, 1, 7 })
        {
            // Offsets shift which values take the vector loops and which the scalar tail.
            var narrowed = new Half[source.Length - offset];
            KernelMath.NarrowToHalf(source.AsSpan(offset), narrowed);
            for (int i = 0; i < narrowed.Length; i++)
            {
                Half expected = (Half)Math.Clamp(source[offset + i], -65504f, 65504f);
                Assert.True(
                    BitConverter.HalfToUInt16Bits(expected) == BitConverter.HalfToUInt16Bits(narrowed[i]),
                    $"{source[offset + i]:R} (bits 0x{BitConverter.SingleToUInt32Bits(source[offset + i]):X8}) narrowed to 0x{BitConverter.HalfToUInt16Bits(narrowed[i]):X4}, expected 0x{BitConverter.HalfToUInt16Bits(expected):X4}");
            }
        }
    }

    [Fact]
    public void Finite_half_widening_and_loading_are_exact_for_every_finite_half()
    {
        ushort[] finite = Enumerable.Range(0, 65536).Select(i => (ushort)i).Where(b => Half.IsFinite(BitConverter.UInt16BitsToHalf(b))).Append((ushort)0x3C00).ToArray();
        var widened = new float[finite.Length];
        KernelMath.WidenFiniteHalf(ref finite[0], ref widened[0], finite.Length);
        for (int i = 0; i < finite.Length; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf(finite[i]);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(widened[i]));

            // The loads leave out the factor 2^112, which the kernels fold into the query and the probabilities.
            int vector = i / 16 * 16;
            if (vector + 16 <= finite.Length)
            {
                Assert.Equal(expected, KernelMath.LoadHalfBits512(ref finite[0], (nuint)vector)[i - vector] * KernelMath.HalfRebias);
                Assert.Equal(expected, KernelMath.LoadHalfBits256(ref finite[0], (nuint)(i / 8 * 8))[i % 8] * KernelMath.HalfRebias);
                Assert.Equal(expected, KernelMath.LoadHalfBits128(ref finite[0], (nuint)(i / 4 * 4))[i % 4] * KernelMath.HalfRebias);
            }
        }
    }
}

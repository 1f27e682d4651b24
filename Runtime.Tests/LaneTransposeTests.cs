using System;
using System.Runtime.Intrinsics;
using AttentionGen.CompilerServices;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// The moves of a row block's rows into lanes and back, checked element by element against their definitions for every
/// lane count a row block has (4 to 32), every row count up to it, and lengths around the transposes' sizes. Which
/// transpose runs depends on the instruction set (16 × 16 with AVX-512, 8 × 8 with AVX, 4 × 4 with SSE or on Arm64,
/// element by element without vectors), so CI's runs under narrower settings check each of them.
/// </summary>
public sealed class LaneTransposeTests
{
    private static readonly int[] Lanes = { 4, 8, 16, 32 };
    private static readonly int[] Lengths = { 1, 3, 4, 5, 8, 12, 16, 20, 33, 64 };

    [Fact]
    public void Rows_move_into_lanes_scaled_and_lanes_past_the_last_row_repeat_it()
    {
        var random = new Random(11);
        foreach (int lanes in Lanes)
        {
            foreach (int length in Lengths)
            {
                for (int rows = 1; rows <= lanes; rows++)
                {
                    int stride = length + 3;
                    float[] source = Random(random, rows * stride);
                    float[] destination = new float[length * lanes];
                    const float scale = 0.375f;
                    LaneTranspose.RowsIntoLanes(ref source[0], stride, rows, length, lanes, scale, ref destination[0]);
                    for (int d = 0; d < length; d++)
                    {
                        for (int r = 0; r < lanes; r++)
                        {
                            float expected = source[Math.Min(r, rows - 1) * stride + d] * scale;
                            Assert.True(expected == destination[d * lanes + r], $"lanes {lanes}, length {length}, rows {rows}: element {d} of lane {r}");
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void Lanes_move_into_rows_times_their_factors_and_nothing_past_the_last_row_is_written()
    {
        var random = new Random(12);
        foreach (int lanes in Lanes)
        {
            foreach (int length in Lengths)
            {
                for (int rows = 1; rows <= lanes; rows++)
                {
                    int stride = length + 3;
                    float[] source = Random(random, length * lanes);
                    float[] factors = Random(random, lanes);
                    float[] destination = new float[lanes * stride];
                    Array.Fill(destination, float.NaN);
                    LaneTranspose.LanesIntoRows(ref source[0], lanes, length, ref factors[0], rows, ref destination[0], stride);
                    for (int r = 0; r < lanes; r++)
                    {
                        for (int d = 0; d < stride; d++)
                        {
                            float actual = destination[r * stride + d];
                            if (r < rows && d < length)
                            {
                                Assert.True(source[d * lanes + r] * factors[r] == actual, $"lanes {lanes}, length {length}, rows {rows}: element {d} of row {r}");
                            }
                            else
                            {
                                Assert.True(float.IsNaN(actual), $"lanes {lanes}, length {length}, rows {rows}: element {d} of row {r} written");
                            }
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void Four_vectors_transpose_in_place()
    {
        Vector128<float> v0 = Vector128.Create(0f, 1, 2, 3), v1 = Vector128.Create(10f, 11, 12, 13);
        Vector128<float> v2 = Vector128.Create(20f, 21, 22, 23), v3 = Vector128.Create(30f, 31, 32, 33);
        LaneTranspose.Transpose4(ref v0, ref v1, ref v2, ref v3);
        Assert.Equal(Vector128.Create(0f, 10, 20, 30), v0);
        Assert.Equal(Vector128.Create(1f, 11, 21, 31), v1);
        Assert.Equal(Vector128.Create(2f, 12, 22, 32), v2);
        Assert.Equal(Vector128.Create(3f, 13, 23, 33), v3);
    }

    private static float[] Random(Random random, int length)
    {
        float[] values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)(random.NextDouble() * 2 - 1);
        }

        return values;
    }
}

using System;
using System.Globalization;
using Xunit.Sdk;

namespace AttentionGen.Runtime.Tests.Infrastructure;

/// <summary>Random test data and tolerant comparison.</summary>
public static class Tensors
{
    /// <summary>Values from a standard normal distribution, times <paramref name="scale"/>.</summary>
    public static float[] Normal(Random random, int length, float scale = 1f)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = scale * (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
        }

        return values;
    }

    /// <summary>The root mean square of <paramref name="values"/>: 1 for standard normal data, m for data times m.</summary>
    public static double RootMeanSquare(ReadOnlySpan<float> values)
    {
        double sum = 0;
        foreach (float value in values)
        {
            sum += (double)value * value;
        }

        return values.Length == 0 ? 0 : Math.Sqrt(sum / values.Length);
    }

    /// <summary>
    /// The factor by which a comparison's absolute tolerance grows with the size of the scores, never below 1:
    /// <paramref name="scale"/> · √<paramref name="headDim"/> times the root mean squares of the queries and the keys, the
    /// typical size of a score. Each score's float rounding grows with it, and the softmax passes that on to every output:
    /// queries three times larger, or a scale four times the default, give three or four times the error.
    /// </summary>
    public static double ScoreSize(float scale, int headDim, double queryRms, double keyRms) =>
        Math.Max(1.0, scale * Math.Sqrt(headDim) * queryRms * keyRms);

    /// <summary>Written after an output's end, to check that a longer span's tail is left alone.</summary>
    private const float Sentinel = 12345.5f;

    /// <summary>
    /// Runs <paramref name="call"/> on an output buffer of <paramref name="length"/> elements that starts as NaN, so that an
    /// element the kernel forgets to write fails a comparison, followed by a tail that must survive untouched; returns
    /// the written prefix.
    /// </summary>
    public static float[] RunGuarded(int length, Action<float[]> call, Func<string> describe)
    {
        var buffer = new float[length + 7];
        buffer.AsSpan(0, length).Fill(float.NaN);
        buffer.AsSpan(length).Fill(Sentinel);
        call(buffer);
        for (int i = length; i < buffer.Length; i++)
        {
            if (buffer[i] != Sentinel)
            {
                throw new XunitException($"{describe()}: the kernel wrote past the output's shape, at element {i}.");
            }
        }

        return buffer.AsSpan(0, length).ToArray();
    }

    /// <summary>
    /// Fails unless every element of <paramref name="actual"/> is within <c>absolute + relative · |expected|</c> of
    /// <paramref name="expected"/>; the message names the worst element.
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double absolute, double relative, string context)
    {
        if (expected.Length != actual.Length)
        {
            throw new XunitException($"{context}: length {actual.Length}, expected {expected.Length}.");
        }

        int worst = -1;
        double worstExcess = 0, worstError = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(a) != double.IsNaN(e))
            {
                throw new XunitException($"{context}: element {i} is {a}, expected {e}.");
            }

            double error = Math.Abs(a - e);
            double excess = error - (absolute + relative * Math.Abs(e));
            if (excess > worstExcess || double.IsNaN(excess))
            {
                worst = i;
                worstExcess = excess;
                worstError = error;
            }
        }

        if (worst >= 0)
        {
            throw new XunitException(string.Format(CultureInfo.InvariantCulture,
                "{0}: element {1} is {2:R}, expected {3:R} (error {4:E3}, tolerance {5:E1} + {6:E1}·|expected|).",
                context, worst, actual[worst], expected[worst], worstError, absolute, relative));
        }
    }

    /// <summary>The largest absolute difference between two arrays.</summary>
    public static double MaxError(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        double max = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            max = Math.Max(max, Math.Abs((double)expected[i] - actual[i]));
        }

        return max;
    }

    /// <summary>
    /// <c>x · W + b</c> in double precision: <paramref name="input"/> [rows, inputs], <paramref name="weight"/>
    /// [inputs, outputs], <paramref name="bias"/> outputs long or empty.
    /// </summary>
    public static double[] Dense(float[] input, float[] weight, float[] bias, int rows, int inputs, int outputs)
    {
        var result = new double[rows * outputs];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < outputs; j++)
            {
                double sum = bias.Length == 0 ? 0 : bias[j];
                for (int k = 0; k < inputs; k++)
                {
                    sum += (double)input[r * inputs + k] * weight[k * outputs + j];
                }

                result[r * outputs + j] = sum;
            }
        }

        return result;
    }
}

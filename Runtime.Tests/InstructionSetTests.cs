using System;
using System.Runtime.Intrinsics;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// .ci/run repeats these tests with DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0 so that
/// the Vector256, Vector128 and scalar paths each run. This checks that each switch really turns the wider paths off,
/// so the runs cannot silently test the same path again, and that without a switch the paths match the CPU.
/// </summary>
public sealed class InstructionSetTests
{
    [Fact]
    public void The_instruction_set_switches_take_effect()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") == "0")
        {
            Assert.False(Vector512.IsHardwareAccelerated);
        }

        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0")
        {
            Assert.False(Vector512.IsHardwareAccelerated);
            Assert.False(Vector256.IsHardwareAccelerated);
        }

        if (Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0")
        {
            Assert.False(Vector128.IsHardwareAccelerated);
        }
        else if (System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture is System.Runtime.InteropServices.Architecture.X64 or System.Runtime.InteropServices.Architecture.Arm64)
        {
            Assert.True(Vector128.IsHardwareAccelerated, "SSE and NEON are part of every x64 and Arm64 baseline");
        }

        // Against what the processor says of itself (Linux x64): a wider path runs only where the CPU has it, and
        // AVX2 runs wherever the CPU has it and no switch turns it off.
        if (OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64)
        {
            string flags = " " + System.Linq.Enumerable.FirstOrDefault(System.IO.File.ReadLines("/proc/cpuinfo"), line => line.StartsWith("flags", StringComparison.Ordinal)) + " ";
            if (Vector512.IsHardwareAccelerated)
            {
                Assert.Contains(" avx512f ", flags);
            }

            if (Vector256.IsHardwareAccelerated)
            {
                Assert.Contains(" avx2 ", flags);
            }

            bool switchedOff = Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0" || Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0";
            if (flags.Contains(" avx2 ", StringComparison.Ordinal) && !switchedOff)
            {
                Assert.True(Vector256.IsHardwareAccelerated, "the CPU has AVX2 and no switch turns it off");
            }
        }

        Console.WriteLine($"Vector512: {Vector512.IsHardwareAccelerated}, Vector256: {Vector256.IsHardwareAccelerated}, Vector128: {Vector128.IsHardwareAccelerated}");
    }
}

using System.Runtime.CompilerServices;

namespace Hvrt.Layout;

/// <summary>
/// struct kvm_run read by offset (kvm-abi.md §9, x86_64): hvrt must not depend on the build
/// host's &lt;linux/kvm.h&gt;, and Debian 12's lacks memory_fault. The exit union starts at 32.
/// </summary>
internal static unsafe class KvmRun
{
    public const int ExitReason = 8;     // u32
    public const int Flags = 14;         // u16, KVM_RUN_X86_* (set by KVM on every exit)
    public const int Union = 32;

    // memory_fault
    public const int FaultFlags = Union;       // u64
    public const int FaultGpa = Union + 8;     // u64
    public const int FaultSize = Union + 16;   // u64

    // hypercall
    public const int HcNr = Union;             // u64
    public const int HcArgs = Union + 8;       // u64[6]
    public const int HcRet = Union + 56;       // u64 (88)
    public const int HcFlags = Union + 64;     // u64 (96)

    // mmio
    public const int MmioPhysAddr = Union;     // u64
    public const int MmioData = Union + 8;     // u8[8]
    public const int MmioLen = Union + 16;     // u32 (48)
    public const int MmioIsWrite = Union + 20; // u8 (52)

    /// <summary>KVM_RUN_X86_SMM: the vCPU was in SMM at the exit, so its accesses use address space 1.</summary>
    public const ushort X86Smm = 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint U32(byte* run, int off) => *(uint*)(run + off);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong U64(byte* run, int off) => *(ulong*)(run + off);
}

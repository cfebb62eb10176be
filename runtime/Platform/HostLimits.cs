using System.IO;
using System.Runtime.Intrinsics.X86;

namespace Hvrt.Platform;

/// <summary>
/// Limits that KVM takes from the host and that hvrt must apply the same way to give the same
/// errno: the top of the user address range (access_ok on userspace_addr + memory_size) and the
/// highest gfn a memslot may reach (x86 kvm_mmu_max_gfn, checked in kvm_arch_prepare_memory_region).
/// Computed once per process.
/// </summary>
internal static class HostLimits
{
    /// <summary>x86-64 TASK_SIZE_MAX with 4-level paging; access_ok accepts addr + size up to it.</summary>
    public const ulong TaskSizeMax4Level = (1UL << 47) - 4096;

    /// <summary>TASK_SIZE_MAX with 5-level paging (LA57).</summary>
    public const ulong TaskSizeMax5Level = (1UL << 56) - 4096;

    private static ulong s_userAddrLimit;
    private static uint s_maxGpaBits;

    /// <summary>Largest value hva + size may reach (inclusive), as measured against this host's KVM.</summary>
    public static ulong UserAddrLimit
    {
        get
        {
            if (s_userAddrLimit == 0)
            {
                // Only a 5-level kernel can place a mapping above 2^47; a hinted MAP_FIXED_NOREPLACE
                // probe tells without parsing kernel configuration.
                s_userAddrLimit = Libc.CanMapAt(1UL << 48) ? TaskSizeMax5Level : TaskSizeMax4Level;
            }
            return s_userAddrLimit;
        }
    }

    /// <summary>
    /// Guest physical address bits KVM accepts for a memslot: the host MAXPHYADDR when two-dimensional
    /// paging (EPT/NPT) is on, else 52 (kvm_mmu_max_gfn). This host runs KVM without TDP (PVM), and
    /// its KVM accepts slots up to 2^52 although CPUID says 48 physical bits.
    /// </summary>
    public static uint MaxGpaBits
    {
        get
        {
            if (s_maxGpaBits == 0)
            {
                s_maxGpaBits = TdpEnabled() ? CpuPhysBits() : 52;
            }
            return s_maxGpaBits;
        }
    }

    private static bool TdpEnabled()
    {
        foreach (string p in new[] { "/sys/module/kvm_intel/parameters/ept", "/sys/module/kvm_amd/parameters/npt" })
        {
            try
            {
                if (File.Exists(p))
                {
                    string v = File.ReadAllText(p).Trim();
                    return v == "Y" || v == "1";
                }
            }
            catch (IOException)
            {
            }
            catch (System.UnauthorizedAccessException)
            {
            }
        }
        return false;
    }

    private static uint CpuPhysBits()
    {
        if (!X86Base.IsSupported)
        {
            return 52;
        }
        (int maxExt, _, _, _) = X86Base.CpuId(unchecked((int)0x80000000), 0);
        if ((uint)maxExt < 0x80000008)
        {
            return 36;
        }
        (int eax, _, _, _) = X86Base.CpuId(unchecked((int)0x80000008), 0);
        return (uint)eax & 0xff;
    }
}

using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Kvm;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Abi;

/// <summary>Kernel profiles: which kernel's KVM rules a VM follows, and what a profile number resolves to here.</summary>
internal static unsafe class ExportsProfile
{
    /// <summary>The profile vm follows (hvrt_vm_kvm_profile); copies min(out->size, 48) bytes.</summary>
    [UnmanagedCallersOnly(EntryPoint = "hvrt_vm_kvm_profile", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int VmKvmProfile(VmHandle* vm, HvrtKvmProfile* result)
    {
        try
        {
            int e = VmHandle.Check(vm);
            if (e != 0)
            {
                return e;
            }
            e = SizedCopy.Check(result);
            if (e == 0)
            {
                VmRules rules = Vm.FromHandle(vm).Rules;
                SizedCopy.Write(rules.Profile.ToAbi(rules.VmType), result);
            }
            return e;
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    /// <summary>What hvrt_vm_config's kvm_profile = profile resolves to for a VM of vm_type (0 probes /dev/kvm once).</summary>
    [UnmanagedCallersOnly(EntryPoint = "hvrt_kvm_profile_query", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int KvmProfileQuery(uint profile, uint vmType, HvrtKvmProfile* result)
    {
        try
        {
            int e = SizedCopy.Check(result);
            if (e == 0 && vmType >= 32)
            {
                e = -Errno.EINVAL;
            }
            if (e == 0 && (e = HostProfile.Resolve(profile, vmType, out KernelProfile? p)) == 0)
            {
                SizedCopy.Write(p!.ToAbi(vmType), result);
            }
            return e;
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }
}

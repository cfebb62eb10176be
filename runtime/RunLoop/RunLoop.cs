using Hvrt.Kvm;
using Hvrt.Layout;
using Hvrt.Platform;
using Hvrt.Sync;

namespace Hvrt.RunLoop;

/// <summary>hvrt_vcpu_enter / exit / run: the reader is offline exactly while the guest runs.</summary>
internal static unsafe class VcpuLoop
{
    public static void Enter(Vcpu* v) => GracePeriod.Offline(v->Reader);

    public static void Exit(Vcpu* v) => GracePeriod.Online(&v->Vm->Grace, v->Reader);

    /// <summary>Enter, KVM_RUN, exit, handle, until an exit is not RESUME.</summary>
    public static int Run(Vcpu* v)
    {
        if (v->Fd < 0)
        {
            return -Errno.ENODEV;
        }
        while (true)
        {
            Enter(v);
            int r = Libc.IoctlValue(v->Fd, KvmApi.KVM_RUN, 0);
            Exit(v);
            int h = r < 0 ? ExitHandler.Handle(v, -1, -r) : ExitHandler.Handle(v, r, 0);
            if (h != HvrtExitInfo.Resume)
            {
                return h;
            }
        }
    }
}

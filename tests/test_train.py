"Pretraining and fine-tuning as a user runs them: the command line, the run folder, resuming after SIGKILL."
import hashlib, json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch

ABC3D = str(Path(sys.executable).parent/'abc3d')
ENV = {**os.environ, 'ABC3D_PROGRESS': '0'}
from abc3d.tasks import TASKS as TABLE
TASKS = ','.join(TABLE)          # every task of the table


def run(*args):
    out = subprocess.run([ABC3D, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def test_pretrain_finetune_resume_chain(default_store, tmp_path):
    pre = tmp_path/'pre'
    out = run('pretrain', '--store', default_store, '--out', pre, '--max-steps', 4, '--ckpt-every', 2)
    assert 'pretraining: written' in out and 'val/loss_hls' in out
    res = json.loads((pre/'result.json').read_text())
    assert res['steps'] == 4
    assert (pre/'encoder.safetensors').exists() and (pre/'logs'/'metrics.csv').exists()
    assert any((pre/'tb').rglob('events.out.tfevents*'))
    cfg = json.loads((pre/'encoder.json').read_text())['config']
    assert cfg['encoder']['dim'] == 192 and set(cfg['bands']) == {'hls', 'tandemx', 'glo30'}

    ft = tmp_path/'ft'                                    # all eight heads on one encoder, in one run
    out = run('finetune', '--store', default_store, '--out', ft, '--pretrained', pre/'encoder',
              '--task', TASKS, '--max-steps', 4, '--mode', 'lora')
    metrics = json.loads((ft/'metrics.json').read_text())
    assert set(metrics) == set(TASKS.split(','))
    for t in ('agbd', 'canopy_height', 'canopy_profile'):
        assert metrics[t]['n'] > 0 and 'rmse' in metrics[t] and metrics[t]['truth_n'] > 1000
    assert 'rmse_rh50' in metrics['canopy_profile'] and 'truth_rmse_100-200cm' in metrics['soc_profile']
    assert 0 <= metrics['land_cover']['miou'] <= 1 and 'f1' in metrics['disturbance']
    assert 'truth_rmse' in metrics['carbon_flux']          # no tower falls in the test blocks; the truth still scores it
    for t in TASKS.split(','): assert t in out              # the table printed per task
    from abc3d.train.fit import load_finetuned
    model = load_finetuned(ft/'model')
    assert model.mode == 'lora' and model.hparams.pretrained is None
    refit = json.loads((ft/'result.json').read_text())['refit']     # the class heads, trained again; the validation split chose
    assert set(refit) == {'land_cover', 'disturbance'}
    for r in refit.values():
        assert r['kept'] in r['val'] and set(r['val']) <= {'fine-tuned', 'refitted', 'pixels'} and 'fine-tuned' in r['val']
        assert r['val'][r['kept']] == max(r['val'].values())
    assert sorted(model.pixel_heads) == sorted(t for t, r in refit.items() if r['kept'] == 'pixels')   # the choice travels with the export

    out = run('finetune', '--store', default_store, '--out', ft, '--pretrained', pre/'encoder', '--task', TASKS, '--max-steps', 4,
              '--mode', 'lora', '--resume', '--num-workers', 1)
    assert 'reused: True' in out                            # a finished run is reported, not redone
    other = subprocess.run([ABC3D, 'finetune', '--store', str(default_store), '--out', str(ft), '--pretrained', str(pre/'encoder'),
                            '--task', TASKS, '--max-steps', '8', '--mode', 'lora', '--lr', '0.001', '--resume'], capture_output=True, text=True, env=ENV)
    assert other.returncode == 2 and len(other.stderr.strip().splitlines()) == 1, other.stderr   # not taken for the run asked for
    assert 'max_steps: 4 as run, 8 now' in other.stderr and 'lr: 0.006 as run, 0.001 now' in other.stderr
    assert json.loads((ft/'result.json').read_text())['steps'] == 4
    fail = subprocess.run([ABC3D, 'finetune', '--store', str(default_store), '--out', str(ft), '--task', 'agbd'],
                          capture_output=True, text=True, env=ENV)
    assert fail.returncode == 2 and 'pass --resume' in fail.stderr


def _ckpt_step(path):
    try: return torch.load(path, weights_only=True, map_location='cpu')['global_step']
    except (FileNotFoundError, RuntimeError, EOFError): return -1


def test_sigkill_mid_epoch_then_resume_gives_the_same_step_count(default_store, tmp_path):
    args = ['finetune', '--store', default_store, '--task', 'canopy_height', '--pretrained', 'none', '--epochs', 2,
            '--ckpt-every', 2]
    from abc3d.data.store import summary
    per_epoch = -(-summary(default_store)['split']['train'] // 8)
    whole = 2 * per_epoch                                     # 44 training chips, batch 8: 6 steps x 2 epochs, as an uncut run takes
    assert per_epoch == 6

    cut = tmp_path/'cut'
    proc = subprocess.Popen([ABC3D, *map(str, args), '--out', str(cut)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt, t0 = cut/'checkpoints'/'last.ckpt', time.time()
    while _ckpt_step(ckpt) < 2 and time.time() - t0 < 600: time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL); proc.wait()
    killed_at = _ckpt_step(ckpt)
    assert 0 < killed_at < whole and killed_at % per_epoch != 0      # killed mid-epoch, nothing finished
    assert not (cut/'result.json').exists() and not (cut/'model.safetensors').exists()

    out = run(*args, '--out', cut, '--resume')
    assert json.loads((cut/'result.json').read_text())['steps'] == whole
    assert (cut/'logs'/'metrics.part0.csv').exists() and (cut/'logs'/'metrics.csv').exists()   # both parts of the log kept
    assert 'canopy_height' in out


def test_every_modality_subset_trains_on_real_chips(small_store):
    "Fine-tuning forward and backward with each subset of the inputs that has a raster: finite losses, gradients."
    import itertools
    from dataclasses import asdict
    from abc3d.data.loader import ChipDataset
    from abc3d.train.finetune import FinetuneTask, label_stats
    from abc3d.models.encoder import EncoderConfig
    ds = ChipDataset(small_store, 'train', tasks=['agbd', 'land_cover', 'canopy_profile'])
    stats, weights, _ = label_stats(ds, ds.tasks)
    bands = {m: ds.band_names(m) for m in ('hls', 'tandemx', 'glo30')}
    torch.manual_seed(0)
    task = FinetuneTask(ds.tasks, asdict(EncoderConfig.preset('tiny', depth=1)), bands, stats=stats,
                        channels={'land_cover': 8}, class_weights=weights, modality_dropout=0.)
    batch = ds[list(range(4))]
    mods = ['hls', 'tandemx', 'glo30', 'era5_land']
    for n in range(1, 5):
        for sub in itertools.combinations(mods, n):
            if sub == ('era5_land',): continue
            b = {k: v for k, v in batch.items() if k not in mods or k in sub}
            task.zero_grad()
            losses = task.task_losses(task(b), b)
            loss = sum(losses.values())
            loss.backward()
            assert torch.isfinite(loss), sub
            assert task.encoder.blocks[0].attn.qkv.weight.grad.abs().sum() > 0, sub
    with pytest.raises(ValueError, match='at least one raster modality'):
        task({k: v for k, v in batch.items() if k not in mods[:3]})


def _raster_digest(batch) -> str:
    "SHA-256 of the pixels of every raster modality of a batch (which chips, and how they were flipped)."
    h = hashlib.sha256()
    for v in batch.values():
        if isinstance(v, dict) and 'pixels' in v: h.update(v['pixels'].numpy().tobytes())
    return h.hexdigest()


def test_resume_after_cuts_mid_epoch_and_on_epoch_boundary_is_bit_identical(small_store, tmp_path, monkeypatch):
    "A fine-tune stopped by the requeue signal mid-epoch, resumed, stopped again at an epoch end and resumed takes the uninterrupted run's steps and ends with its weights, bit for bit."
    from abc3d.train.config import FinetuneConfig, load_config
    from abc3d.train.fit import run_finetune
    from abc3d.train.finetune import FinetuneTask
    from abc3d.train.slurm import Requeued
    from abc3d.train.checkpoint import load_weights
    from abc3d.data.store import summary
    kw = dict(store=str(small_store), task='canopy_height', pretrained='none', mode='lora', epochs=2, batch_size=4, ckpt_every=100)
    per_epoch = -(-summary(small_store)['split']['train'] // 4)
    assert per_epoch >= 3                                      # a cut after step 1 is mid-epoch, one after step per_epoch ends an epoch

    train_step, seen, stops = FinetuneTask.training_step, [], []
    def step(self, batch, i):                                  # what each step sees; the pre-timeout signal arrives during step `stops[0]`
        seen.append((self.global_step, batch['chip'].tolist(), _raster_digest(batch), torch.get_rng_state()))
        if stops and self.global_step == stops[0] - 1: os.kill(os.getpid(), signal.SIGUSR1)
        return train_step(self, batch, i)
    monkeypatch.setattr(FinetuneTask, 'training_step', step)
    whole = run_finetune(load_config(FinetuneConfig, out=str(tmp_path/'whole'), **kw))
    assert whole['steps'] == 2 * per_epoch
    ref = seen[:]; seen.clear()

    cut = dict(out=str(tmp_path/'cut'), **kw)
    for stop, resume in ((1, False), (per_epoch, True)):
        stops[:] = [stop]
        with pytest.raises(Requeued, match=f'at step {stop};'): run_finetune(load_config(FinetuneConfig, resume=resume, **cut))
        assert _ckpt_step(tmp_path/'cut'/'checkpoints'/'last.ckpt') == stop
    stops.clear()
    res = run_finetune(load_config(FinetuneConfig, resume=True, **cut))
    assert res['steps'] == whole['steps'] and [s[0] for s in seen] == list(range(whole['steps']))
    for (k, chips, pixels, rng), (_, chips2, pixels2, rng2) in zip(ref, seen):
        assert chips == chips2, f'step {k}: chips {chips2}, not {chips}'                  # the sampler's position and epoch
        assert pixels == pixels2, f'step {k}: the same chips, flipped otherwise'          # the augmentation RNG
        assert torch.equal(rng, rng2), f'step {k}: another torch random state'            # modality dropout draws from it
    a, b = load_weights(whole['model'])[0], load_weights(res['model'])[0]
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f'{len(differ)} of {len(a)} tensors differ, e.g. {differ[:4]}'
    assert json.loads(Path(whole['model']).with_suffix('.json').read_text())['sha256'] == \
           json.loads(Path(res['model']).with_suffix('.json').read_text())['sha256']


def test_finetune_standardises_inputs_as_its_encoder_was_pretrained(small_store, default_store, tmp_path):
    "An encoder pretrained on one store (a corpus) and fine-tuned on another: the model standardises with the corpus's statistics."
    from abc3d.data.store import open_store
    pre, ft = tmp_path/'pre', tmp_path/'ft'
    run('pretrain', '--store', small_store, '--out', pre, '--max-steps', 2)
    norm = json.loads((pre/'encoder.json').read_text())['config']['norm']
    corpus, task = (open_store(s)[1]['modalities'] for s in (small_store, default_store))
    assert norm['hls']['mean'] == corpus['hls']['mean'] and corpus['hls']['mean'] != task['hls']['mean']
    run('finetune', '--store', default_store, '--out', ft, '--pretrained', pre/'encoder', '--task', 'agbd', '--max-steps', 2)
    inputs = json.loads((ft/'model.json').read_text())['config']['inputs']
    assert set(norm) == set(inputs) == {'hls', 'tandemx', 'glo30', 'era5_land'}
    for m in norm:
        assert inputs[m]['mean'] == norm[m]['mean'] and inputs[m]['std'] == norm[m]['std']    # what prediction standardises with


def test_sigterm_mid_run_exits_non_zero_and_resumes(default_store, tmp_path):
    "scancel or a time limit sends SIGTERM: the run says so and exits 143 (not 0), and --resume finishes it."
    args = ['finetune', '--store', default_store, '--task', 'canopy_height', '--pretrained', 'none', '--max-steps', 8, '--ckpt-every', 2,
            '--out', tmp_path/'ft']
    proc = subprocess.Popen([ABC3D, *map(str, args)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt, t0 = tmp_path/'ft'/'checkpoints'/'last.ckpt', time.time()
    while _ckpt_step(ckpt) < 2 and time.time() - t0 < 600: time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143 and 'stopped by SIGTERM' in err, (proc.returncode, err[-2000:])
    assert not (tmp_path/'ft'/'result.json').exists() and not (tmp_path/'ft'/'model.safetensors').exists()
    run(*args, '--resume')
    assert json.loads((tmp_path/'ft'/'result.json').read_text())['steps'] == 8

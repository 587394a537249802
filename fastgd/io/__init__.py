"""Files: checkpoints (:mod:`fastgd.io.checkpoint`, :func:`fastgd.save` and
:func:`fastgd.load`), :func:`fastgd.fit`'s run checkpoints (:mod:`fastgd.io.fit_resume`),
the command line's data readers (:mod:`fastgd.io.data`) and model files
(:mod:`fastgd.io.model_file`)."""
